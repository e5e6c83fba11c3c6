#pragma once
// The hyper-parameters of a decoder-only transformer, read from a GGUF file's "<arch>.*" keys or a
// Hugging Face config.json, and the architecture registry that does the reading.
//
// One generic forward pass (model.hpp) serves every architecture; what differs is written here as
// flags. Supported (src/llm/arch.cpp, the one file to touch to add an architecture):
//   llama   SmolLM2, Llama 3.x, Seed-Coder, Mistral: RMSNorm, SwiGLU, GQA, RoPE; llama3 RoPE
//           scaling (GGUF: the precomputed rope_freqs tensor; HF: rope_scaling.rope_type=llama3).
//   qwen2   llama + q/k/v biases.
//   qwen3   llama + RMSNorm of each query and key head (q_norm, k_norm) before RoPE.
//   gemma3  embeddings scaled by sqrt(hidden); RMSNorm with weight (1 + w) (GGUF files store 1 + w);
//           norms after attention and after the MLP as well as before; q/k head norms; GeGLU
//           (tanh GELU); attention scale 1/sqrt(query_pre_attn_scalar); sliding-window (local)
//           layers with their own RoPE base, every sliding_window_pattern-th layer global.
//
// RoPE pairing: Hugging Face checkpoints rotate the two halves of each head ("neox"). llama.cpp's
// converter permutes the llama architecture's q/k rows so that GGUF llama files rotate adjacent
// pairs ("normal"); qwen2, qwen3 and gemma3 GGUF files keep the halves.
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace mtk::llm {

class GgufFile;

enum class Activation { SiLU, GeluTanh };

struct ModelConfig {
  std::string arch;  // "llama", "qwen2", "qwen3", "gemma3"
  int64_t vocab_size = 0;
  int64_t hidden = 0;        // embedding length
  int64_t n_layers = 0;
  int64_t n_heads = 0;
  int64_t n_kv_heads = 0;
  int64_t head_dim = 0;      // key/value length per head
  int64_t intermediate = 0;  // feed-forward length
  int64_t context_length = 0;
  double rms_eps = 1e-5;
  Activation act = Activation::SiLU;

  // RoPE.
  bool rope_neox = true;             // rotate halves (true) or adjacent pairs (false)
  double rope_base = 10000.0;        // global layers
  double rope_base_local = 10000.0;  // sliding-window layers
  double rope_linear_factor = 1.0;   // linear position scaling (global layers)
  int64_t rope_dim = 0;              // rotated dimensions per head (head_dim when 0)
  // Per-frequency divisors (llama3 scaling), rope_dim/2 of them; empty = none.
  std::vector<float> rope_freq_factors;

  // Architecture features.
  bool qkv_bias = false;
  bool o_bias = false;
  bool qk_norm = false;          // q_norm / k_norm over each head
  bool post_norms = false;       // post-attention and post-feed-forward norms (gemma)
  bool norm_plus_one = false;    // stored norm weight w means scale (1 + w) (HF gemma)
  bool embed_scale = false;      // multiply embeddings by sqrt(hidden)
  bool tied_embeddings = false;  // no separate output matrix
  double attn_scale = 0.0;       // 0: 1/sqrt(head_dim)
  double final_logit_softcap = 0.0;
  double attn_logit_softcap = 0.0;
  int64_t sliding_window = 0;          // 0: no local layers
  int64_t sliding_window_pattern = 0;  // layer i is global when (i + 1) % pattern == 0
  std::vector<bool> layer_is_local;    // per layer (filled by finalize())

  // Checks the numbers (positive sizes, heads divisible, ...) and derives layer_is_local and
  // rope_dim; throws mtk::Error naming the bad key.
  void finalize(const std::string& source);
  double scale() const;  // the attention scale actually used
  std::string summary() const;
};

// Reads the configuration from a GGUF file's metadata (and, for llama3 scaling, its rope_freqs
// tensor). Throws mtk::Error for an unsupported general.architecture, naming the ones supported.
ModelConfig config_from_gguf(const GgufFile& f);
// Reads it from a Hugging Face config.json (parsed). `source` names the file in errors.
ModelConfig config_from_hf(const nlohmann::json& config, const std::string& source);

// The architectures the registry knows, e.g. {"llama", "qwen2", "qwen3", "gemma3"}.
std::vector<std::string> supported_architectures();

// Maps a Hugging Face tensor name ("model.layers.3.self_attn.q_proj.weight") to the GGUF-style name
// the model loader uses ("blk.3.attn_q.weight") for architecture `arch`; "" for a tensor the model
// does not use (e.g. rotary_emb.inv_freq).
std::string hf_to_gguf_name(const std::string& arch, const std::string& hf_name);

}  // namespace mtk::llm
