#pragma once
// A decoder-only transformer on libtorch: weights from a GGUF file (dequantised at load to the
// compute dtype) or a Hugging Face safetensors directory, one generic forward pass driven by
// ModelConfig (model_config.hpp), and a key/value cache for batched incremental decoding.
//
// Batching: the sequences of a batch share cache slots. Each sequence b starts at slot pad[b]
// (left padding) and its token in slot s has position s - pad[b]; attention never looks at slots
// before pad[b], after the query's slot, or (sliding-window layers) window or more positions back.
//
// This header includes ATen; code that only generates text should use generate.hpp instead.
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "mtk/llm/chat_template.hpp"
#include "mtk/llm/model_config.hpp"
#include "mtk/llm/quant.hpp"

namespace mtk::llm {

class GgufFile;
class Tokenizer;
class LoraSet;

// A weight matrix [out, in]: dense in the compute dtype, and/or kept in its GGUF block format
// (CPU, float32 compute, types qmatmul.hpp supports). A quantised-only matrix is multiplied by
// qmatmul for a few activation rows (decode) and dequantised on the fly for more (prefill).
struct Weight {
  at::Tensor dense;                              // undefined when only quantised
  std::shared_ptr<const std::vector<uint8_t>> blocks;  // null when dense only
  GgmlType type = GgmlType::F32;
  int64_t out = 0, in = 0;
  // NF4 (nf4.hpp): packed indices and block maxima, on the model's device; undefined otherwise.
  at::Tensor nf4_packed, nf4_absmax;

  bool defined() const { return dense.defined() || blocks != nullptr || nf4_packed.defined(); }
  int64_t numel() const { return out * in; }
  at::Tensor dequantized() const;  // the dense matrix (decoded from the blocks when needed)
  // x [..., in] -> [..., out] (+ bias when defined).
  at::Tensor linear(const at::Tensor& x, const at::Tensor& bias = {}) const;
  // Rows of the matrix for the given ids (an embedding lookup): [ids..., in].
  at::Tensor rows(const at::Tensor& ids) const;
};

struct LayerWeights {
  at::Tensor attn_norm, q_bias, k_bias, v_bias, o_bias, q_norm, k_norm;
  at::Tensor post_attn_norm, ffn_norm, post_ffw_norm;
  Weight q, k, v, o, gate, up, down;
};

struct ModelWeights {
  Weight embed;   // [vocab, hidden]
  Weight output;  // [vocab, hidden] (the embedding when tied)
  at::Tensor output_norm;
  std::vector<LayerWeights> layers;
};

// Keys and values of every layer for a batch of sequences; slots [0, length) are filled.
struct KvCache {
  std::vector<at::Tensor> k, v;  // per layer [batch, n_kv_heads, capacity, head_dim]
  std::vector<int64_t> pad;      // per sequence: first slot in use
  int64_t length = 0;
  int64_t capacity = 0;

  int64_t batch() const { return static_cast<int64_t>(pad.size()); }
  // Keeps the sequences at `rows` (in that order), dropping the others.
  void select(const std::vector<int64_t>& rows);
  // Writes layer `layer`'s keys and values [batch, n_kv_heads, n, head_dim] at slots start..start+n-1
  // and returns the layer's keys and values of slots 0..start+n-1.
  std::pair<at::Tensor, at::Tensor> append(size_t layer, const at::Tensor& k, const at::Tensor& v, int64_t start);
};

class Model;

// A forward pass other than Model's own float32 one (the llama.cpp numerics mode,
// llamacpp_numerics.hpp, is the only one): Model::forward hands the whole pass to it.
class ForwardPath {
 public:
  virtual ~ForwardPath() = default;
  // The contract of Model::forward.
  virtual at::Tensor forward(const Model& m, const at::Tensor& tokens, KvCache* cache, bool last_only) const = 0;
};

// What every forward pass starts from (Model::begin_pass): the tokens on the model's device, the
// batch and pass sizes, the first slot, the padding per sequence and the positions [B, n]
// (slot - pad, clamped at 0 for padding slots).
struct PassInputs {
  at::Tensor tokens, pad, positions;
  int64_t batch = 0, n = 0, start = 0;
};

struct LoadOptions {
  // Compute dtype: "f32" (default on CPU) or "bf16"/"f16" (CUDA).
  std::string dtype = "f32";
  std::string device = "cpu";  // "cpu" or "cuda[:N]"
  // GGUF on CPU in f32: keep Q4_0/Q4_1/Q8_0 matrices in their blocks (a quarter to a third of the
  // memory, faster decode); false dequantises everything at load.
  bool keep_quantized = true;
  // CPU float32 only: reproduce llama.cpp's CPU arithmetic (8-bit activations in quantised
  // products, f16 KV cache, ggml's flash attention and GELU table; llamacpp_numerics.hpp) instead
  // of computing exactly in float32. For parity with llama.cpp; inference only.
  bool llamacpp_numerics = false;
  // "nf4": quantise the seven projections of every layer of a dense model (safetensors, or a
  // GGUF whose blocks are dequantised) to NF4 at load, as QLoRA's bitsandbytes base (nf4.hpp);
  // "" keeps them as loaded.
  std::string quantize;
};

// Returns the weight stored under a GGUF-style name ("blk.0.attn_q.weight"), a matrix shaped as
// PyTorch shapes it ([out, in]; 1-D tensors have out = 1) in float32 (dense) or in blocks, or an
// undefined Weight when there is none.
using TensorSource = std::function<Weight(const std::string& name)>;

class Model {
 public:
  // Loads a .gguf file or a Hugging Face model directory. Throws mtk::Error naming the file, the
  // missing or mis-shaped tensor and the fix.
  static std::unique_ptr<Model> load(const std::string& path, const LoadOptions& opt = {});
  static std::unique_ptr<Model> from_gguf(const GgufFile& f, const LoadOptions& opt = {});
  // Builds a model from a configuration and a tensor source (every loader ends here); checks each
  // tensor's shape against the configuration. `source` names the model in errors.
  static std::unique_ptr<Model> from_tensors(ModelConfig cfg, const TensorSource& get, const LoadOptions& opt,
                                             const std::string& source);

  const ModelConfig& config() const { return cfg_; }
  const ModelWeights& weights() const { return w_; }
  ModelWeights& weights() { return w_; }
  at::ScalarType dtype() const;
  at::Device device() const;
  int64_t parameter_count() const;

  // A cache for `batch` sequences holding up to `capacity` slots; pad[b] as described above.
  KvCache new_cache(const std::vector<int64_t>& pad, int64_t capacity) const;

  // Runs tokens [batch, n] (int64, slots cache.length .. cache.length+n-1; padding slots may
  // hold any valid id) through the model, appends their keys/values to the cache and returns
  // float32 logits [batch, n, vocab] — or [batch, 1, vocab] for the last slot only when
  // last_only. Without a cache (cache == nullptr) the whole sequence is processed from slot 0
  // with no padding, as in training.
  at::Tensor forward(const at::Tensor& tokens, KvCache* cache, bool last_only = false) const;

  // Training pieces of forward(tokens, nullptr): the final-normed hidden states [batch, n, hidden]
  // and the logits of chosen rows of them (float32; float64 when the model is float64). Under
  // autograd, gradients flow to the input of every linear layer and to an attached adapter, never
  // to the base weights.
  at::Tensor forward_hidden(const at::Tensor& tokens) const;
  at::Tensor output_logits(const at::Tensor& hidden) const;

  // LoRA adapters (lora.hpp) added to the linear layers they cover; null detaches.
  void set_adapter(std::shared_ptr<const LoraSet> adapter) { lora_ = std::move(adapter); }
  const LoraSet* adapter() const { return lora_.get(); }

  // LoadOptions::llamacpp_numerics, switchable after loading: the pass goes to the llama.cpp
  // numerics path (llamacpp_numerics.hpp) instead of the float one.
  bool llamacpp_numerics() const { return path_ != nullptr; }
  void set_llamacpp_numerics(bool on);

  // Pieces shared by the forward paths. begin_pass checks tokens [batch, n] against the cache
  // (throws mtk::Error naming the fix) and computes the positions; embed looks up (and scales)
  // the token embeddings; finish_logits gives float32 logits (float64 for a float64 model) after
  // the final soft-cap.
  PassInputs begin_pass(const at::Tensor& tokens, const KvCache* cache) const;
  at::Tensor embed(const at::Tensor& tokens) const;
  at::Tensor finish_logits(at::Tensor logits) const;

  // Float32 attention over many queries runs in chunks of queries whose scores take at most this
  // many bytes (at least 16 queries per chunk); the results do not depend on it beyond float
  // rounding. A speed and memory setting; tests set it low to exercise the chunked path.
  int64_t attention_chunk_bytes() const { return attn_chunk_bytes_; }
  void set_attention_chunk_bytes(int64_t bytes) { attn_chunk_bytes_ = bytes; }

  // Gradient checkpointing: under autograd without a cache, each decoder layer keeps only its
  // input; its activations are recomputed in the backward pass (the same operations, so the same
  // gradients) for a peak memory of about one layer's activations instead of all of them.
  bool gradient_checkpointing() const { return grad_ckpt_; }
  void set_gradient_checkpointing(bool on) { grad_ckpt_ = on; }

 private:
  friend struct LayerCheckpoint;
  Model() = default;
  at::Tensor layer(int64_t i, const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin,
                   const at::Tensor& cos_local, const at::Tensor& sin_local, const at::Tensor& mask,
                   const at::Tensor& mask_local, KvCache* cache, int64_t start) const;

  at::Tensor trunk(const at::Tensor& tokens, KvCache* cache) const;

  ModelConfig cfg_;
  ModelWeights w_;
  std::shared_ptr<const LoraSet> lora_;
  const ForwardPath* path_ = nullptr;  // null: the float path (trunk, layer, output_logits)
  bool grad_ckpt_ = false;
  int64_t attn_chunk_bytes_ = int64_t{16} << 20;
};

// Loads a Hugging Face model directory (config.json + safetensors), mapping its tensor names with
// hf_to_gguf_name (src/llm/model_hf.cpp).
std::unique_ptr<Model> load_hf_model(const std::string& dir, const LoadOptions& opt = {});
// The same with the directory's tokenizer (tokenizer.json) and chat template
// (tokenizer_config.json's chat_template, or `format`).
void load_hf_language_model(const std::string& dir, const LoadOptions& opt, std::optional<ChatFormat> format,
                            std::unique_ptr<Model>& model, std::unique_ptr<Tokenizer>& tok, ChatTemplateSpec& chat);

}  // namespace mtk::llm
