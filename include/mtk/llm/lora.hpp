#pragma once
// LoRA adapters on the linear layers of a Model (model.hpp), as peft's LoraModel defines them:
//   y = W x (+ bias) + (alpha / r) * B (A x),   A [r, in], B [out, r]
// on the chosen projections of every layer. The base W stays frozen (dense, or GGUF blocks
// dequantised on the fly in forward and backward: no gradient ever reaches it); only A and B
// train. Initialisation as peft's default: A Kaiming-uniform (a = sqrt(5), i.e. U(-1/sqrt(in),
// 1/sqrt(in))) from the seed, B zeros, so a fresh adapter leaves the model unchanged.
//
// Export/import: save_gguf/load_gguf for llama.cpp (below); save_peft/load_peft, a peft directory, adapter_config.json +
// adapter_model.safetensors (float32) with tensors named
// "base_model.model.model.layers.<i>.self_attn.q_proj.lora_A.weight" (mlp.gate_proj etc.), which
// peft's PeftModel.from_pretrained loads on top of the Hugging Face base. GGUF llama bases store
// q/k rows permuted for interleaved RoPE (llama.cpp's converter); B of q/k is permuted back to
// Hugging Face's row order on export (and forward again on import), so the file is the same
// whichever copy of the base trained it.
//
// This header is torch-free; lora_torch.hpp has the tensors.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace mtk::llm {

class Model;

// The seven linear layers of a decoder layer, in peft's module names.
enum class LoraSlot : int { q = 0, k, v, o, gate, up, down };
constexpr int kLoraSlots = 7;
const char* lora_slot_name(LoraSlot s);  // "q_proj", ..., "down_proj"
// "q_proj"/"q" -> LoraSlot::q etc.; throws mtk::Error listing the names.
LoraSlot lora_slot_from_name(const std::string& name);

struct LoraConfig {
  int r = 8;
  double alpha = 16.0;
  double dropout = 0.0;  // only 0 is supported (the paper's value)
  std::vector<std::string> targets{"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"};
  double scale() const { return alpha / r; }
};

class LoraSet {
 public:
  // A fresh adapter for `model` (A Kaiming-uniform from `seed`, B zeros), in the model's dtype.
  static std::shared_ptr<LoraSet> create(const Model& model, const LoraConfig& cfg, uint64_t seed);
  // Loads a peft adapter directory for `model`; throws mtk::Error when it does not fit the model.
  static std::shared_ptr<LoraSet> load_peft(const std::string& dir, const Model& model);
  ~LoraSet();

  const LoraConfig& config() const;
  int64_t parameter_count() const;
  // Writes adapter_config.json + adapter_model.safetensors into dir (created), atomically per file.
  // base_model names the base in adapter_config.json (base_model_name_or_path).
  void save_peft(const std::string& dir, const std::string& base_model) const;
  // A llama.cpp LoRA adapter (llama_adapter_lora_init, llama-cli --lora): GGUF with general.type
  // "adapter", general.architecture of the base, adapter.type "lora", adapter.lora.alpha, and per
  // layer float32 tensors blk.<i>.<attn_q|attn_k|attn_v|attn_output|ffn_gate|ffn_up|ffn_down>.weight
  // .lora_a (A, [r, in]) and .lora_b (B, [out, r]), rows in the GGUF base's order. Atomic.
  void save_gguf(const std::string& path) const;
  static std::shared_ptr<LoraSet> load_gguf(const std::string& path, const Model& model);
  // A peft directory (load_peft) or a .gguf adapter file (load_gguf).
  static std::shared_ptr<LoraSet> load(const std::string& path, const Model& model);

  struct Impl;
  Impl& impl() { return *impl_; }
  const Impl& impl() const { return *impl_; }

 private:
  LoraSet();
  std::unique_ptr<Impl> impl_;
};

}  // namespace mtk::llm
