#pragma once
// The tensors of a LoraSet (lora.hpp) and the autograd pieces the trainer and Model::forward use.
#include <ATen/core/Tensor.h>

#include <string>
#include <vector>

#include "mtk/llm/lora.hpp"

namespace mtk::llm {

struct Weight;

struct LoraSet::Impl {
  LoraConfig cfg;
  std::string arch;  // the base's architecture ("llama", ...), for the GGUF export
  int64_t n_layers = 0;
  bool active[kLoraSlots] = {};
  // Per layer and slot: A [r, in], B [out, r] (undefined when the slot has no adapter).
  std::vector<std::vector<at::Tensor>> A, B;
  // q/k rows of the base are in GGUF's interleaved-RoPE order (see lora.hpp).
  bool permuted_qk = false;
  int64_t n_heads = 0, n_kv_heads = 0;
};

// Trainable tensors in a fixed order (layer, slot, A then B) with their peft names.
std::vector<at::Tensor> lora_parameters(const LoraSet& set);
std::vector<std::string> lora_parameter_names(const LoraSet& set);

// y + scale * (x A^T) B^T for the adapter at (layer, slot); y unchanged when there is none.
at::Tensor lora_apply(const LoraSet& set, int64_t layer, LoraSlot slot, const at::Tensor& x, const at::Tensor& y);

// x W^T (+ bias) with autograd to x only: W (dense or GGUF blocks) is frozen, dequantised per
// call in forward and again in backward, never kept. Used by Weight::linear when x needs a gradient.
at::Tensor frozen_linear(const Weight& w, const at::Tensor& x, const at::Tensor& bias);

// Minimal safetensors writer (float32 tensors, in the given order).
void write_safetensors_f32(const std::string& path, const std::vector<std::string>& names,
                           const std::vector<at::Tensor>& tensors);

}  // namespace mtk::llm
