#pragma once
// The transformer-encoder core shared by the CLIP vision tower (clip.hpp) and the BERT/RoBERTa text
// encoder (encoder_text.hpp): multi-head self-attention without causal mask plus a two-matrix MLP,
// with the layer norms either before each block (pre-LN: CLIP) or after each residual sum (post-LN:
// BERT). Float32 on CPU, or on a CUDA device when the tensors live there.
//
//   pre-LN:  h = x + attn(ln1(x));     y = h + mlp(ln2(h))
//   post-LN: h = ln1(x + attn(x));     y = ln2(h + mlp(h))
//   attn(x) = o(softmax(q k^T / sqrt(head_dim) + mask) v), heads split from the hidden axis
//   mlp(x)  = fc2(act(fc1(x)))
//
// This header includes ATen: only .cpp files use it; callers use clip.hpp / encoder_text.hpp.
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>
#include <vector>

#include "mtk/encoders/encoder_source.hpp"

namespace mtk::encoders::encoder {

enum class Activation { gelu, gelu_tanh, quick_gelu, relu };
enum class NormPlacement { pre, post };

// Hugging Face's hidden_act names: "gelu" (erf), "gelu_new"/"gelu_pytorch_tanh" (tanh),
// "quick_gelu", "relu". Throws mtk::Error for others.
Activation parse_activation(const std::string& name);

struct Config {
  int64_t hidden = 0, heads = 0, intermediate = 0, layers = 0;
  double eps = 1e-5;
  Activation act = Activation::gelu;
  NormPlacement norm = NormPlacement::pre;
  int64_t head_dim() const { return hidden / heads; }
};

// The core's config from a model config's sizes (CLIP vision and BERT/RoBERTa share it).
template <class ModelConfig>
Config core_config(const ModelConfig& c, NormPlacement norm) {
  Config e;
  e.hidden = c.hidden;
  e.heads = c.heads;
  e.intermediate = c.intermediate;
  e.layers = c.layers;
  e.eps = c.eps;
  e.act = parse_activation(c.act);
  e.norm = norm;
  return e;
}

struct Layer {
  at::Tensor q_w, q_b, k_w, k_b, v_w, v_b, o_w, o_b;  // [hidden, hidden], [hidden]
  at::Tensor ln1_w, ln1_b, ln2_w, ln2_b;               // [hidden]
  at::Tensor fc1_w, fc1_b, fc2_w, fc2_b;               // [inter, hidden], [inter], [hidden, inter], [hidden]
};

// The names of one layer's tensors in a checkpoint, relative to the layer's prefix.
struct LayerNames {
  std::string q_w, q_b, k_w, k_b, v_w, v_b, o_w, o_b, ln1_w, ln1_b, ln2_w, ln2_b, fc1_w, fc1_b, fc2_w, fc2_b;
};

// Reads a float32 tensor of `shape` from the source.
at::Tensor load_tensor(const TensorSource& src, const std::string& name, const std::vector<int64_t>& shape);
// Reads layer `prefix` (e.g. "vision_model.encoder.layers.3.") with the given names.
Layer load_layer(const TensorSource& src, const Config& c, const std::string& prefix, const LayerNames& n);

at::Tensor layer_norm(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b, double eps);
at::Tensor activate(const at::Tensor& x, Activation act);

// x [B, T, hidden] -> [B, T, hidden]. keep: [B, T] bool (true = a real token) or undefined (attend
// to every position).
at::Tensor forward(const Config& c, const std::vector<Layer>& layers, at::Tensor x, const at::Tensor& keep = {});

// Moves every tensor of the layers to `device`.
void to_device(std::vector<Layer>& layers, const at::Device& device);
// "cpu", "cuda", "cuda:N"; throws mtk::Error when CUDA is asked for and not available.
at::Device parse_device(const std::string& name);

}  // namespace mtk::encoders::encoder
