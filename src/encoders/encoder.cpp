// The transformer-encoder core (encoder.hpp) and the safetensors weight source (encoder_source.hpp).
#include "mtk/encoders/encoder.hpp"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <cctype>
#include <cmath>
#include <limits>

#include "mtk/core/error.hpp"
#include "mtk/llm/safetensors.hpp"

namespace mtk::encoders {

using llm::SafeTensorInfo;
using llm::safetensor_to_f32;

namespace {

std::string shape_str(const std::vector<int64_t>& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

}  // namespace

TensorSource safetensors_source(const SafetensorsModel& model, std::string prefix) {
  return [&model, prefix](const std::string& name, const std::vector<int64_t>& shape, float* dst) {
    const std::string full = prefix + name;
    const SafeTensorInfo* t = model.find(full);
    if (!t) {
      throw Error("the checkpoint has no tensor " + full,
                  "use the Hugging Face checkpoint the encoder expects (its config.json and model.safetensors)");
    }
    std::vector<int64_t> have(t->shape.begin(), t->shape.end());
    if (have != shape) {
      throw Error("tensor " + full + " in " + *t->file + " has shape " + shape_str(have) + ", expected " +
                      shape_str(shape) + " from config.json",
                  "use the config.json that came with these weights");
    }
    safetensor_to_f32(*t, dst);
  };
}

void random_weight(const std::string& name, const std::vector<int64_t>& shape, uint64_t seed, float* dst) {
  uint64_t s = 0xCBF29CE484222325ull;  // fnv1a64
  for (unsigned char ch : name) s = (s ^ ch) * 0x100000001B3ull;
  s ^= seed;
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  auto ends_with = [&](const char* suf) {
    const std::string x(suf);
    return name.size() >= x.size() && name.compare(name.size() - x.size(), x.size(), x) == 0;
  };
  double centre = 0.0, a = 0.0;
  std::string lower = name;
  for (char& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  if (lower.find("norm") != std::string::npos && ends_with(".weight")) {
    centre = 1.0, a = 0.1;
  } else if (ends_with("bias")) {
    a = 0.02;
  } else if (name.find("class_embedding") != std::string::npos || name.find("position_embedding") != std::string::npos) {
    a = 0.1;
  } else {
    a = 1.0 / std::sqrt(static_cast<double>(n / (shape.empty() ? 1 : shape[0])));
  }
  for (int64_t i = 0; i < n; ++i) {
    uint64_t z = s + static_cast<uint64_t>(i + 1) * 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    const double v = static_cast<double>(z >> 40) * (1.0 / 16777216.0) * 2.0 - 1.0;
    dst[i] = static_cast<float>(centre + v * a);
  }
}

TensorSource random_source(uint64_t seed) {
  return [seed](const std::string& name, const std::vector<int64_t>& shape, float* dst) {
    random_weight(name, shape, seed, dst);
  };
}

bool has_tensor(const SafetensorsModel& model, const std::string& name) { return model.find(name) != nullptr; }

namespace encoder {

Activation parse_activation(const std::string& name) {
  if (name == "gelu") return Activation::gelu;
  if (name == "gelu_new" || name == "gelu_pytorch_tanh" || name == "gelu_fast") return Activation::gelu_tanh;
  if (name == "quick_gelu") return Activation::quick_gelu;
  if (name == "relu") return Activation::relu;
  throw Error("unsupported hidden_act \"" + name + "\" in config.json",
              "use a model with gelu, gelu_new, quick_gelu or relu activations");
}

at::Tensor load_tensor(const TensorSource& src, const std::string& name, const std::vector<int64_t>& shape) {
  at::Tensor t = at::empty(shape, at::kFloat);
  src(name, shape, t.data_ptr<float>());
  return t;
}

Layer load_layer(const TensorSource& src, const Config& c, const std::string& p, const LayerNames& n) {
  const int64_t h = c.hidden, f = c.intermediate;
  Layer L;
  L.q_w = load_tensor(src, p + n.q_w, {h, h});
  L.q_b = load_tensor(src, p + n.q_b, {h});
  L.k_w = load_tensor(src, p + n.k_w, {h, h});
  L.k_b = load_tensor(src, p + n.k_b, {h});
  L.v_w = load_tensor(src, p + n.v_w, {h, h});
  L.v_b = load_tensor(src, p + n.v_b, {h});
  L.o_w = load_tensor(src, p + n.o_w, {h, h});
  L.o_b = load_tensor(src, p + n.o_b, {h});
  L.ln1_w = load_tensor(src, p + n.ln1_w, {h});
  L.ln1_b = load_tensor(src, p + n.ln1_b, {h});
  L.ln2_w = load_tensor(src, p + n.ln2_w, {h});
  L.ln2_b = load_tensor(src, p + n.ln2_b, {h});
  L.fc1_w = load_tensor(src, p + n.fc1_w, {f, h});
  L.fc1_b = load_tensor(src, p + n.fc1_b, {f});
  L.fc2_w = load_tensor(src, p + n.fc2_w, {h, f});
  L.fc2_b = load_tensor(src, p + n.fc2_b, {h});
  return L;
}

at::Tensor layer_norm(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b, double eps) {
  return at::layer_norm(x, {x.size(-1)}, w, b, eps);
}

at::Tensor activate(const at::Tensor& x, Activation act) {
  switch (act) {
    case Activation::gelu: return at::gelu(x);
    case Activation::gelu_tanh: return at::gelu(x, "tanh");
    case Activation::quick_gelu: return x * at::sigmoid(x * 1.702);
    case Activation::relu: return at::relu(x);
  }
  return x;
}

namespace {

at::Tensor attention(const Config& c, const Layer& L, const at::Tensor& x, const at::Tensor& bias) {
  const int64_t B = x.size(0), T = x.size(1), H = c.heads, D = c.head_dim();
  const double scale = 1.0 / std::sqrt(static_cast<double>(D));
  // [B, T, hidden] -> [B, H, T, D]
  auto split = [&](const at::Tensor& t) { return t.view({B, T, H, D}).transpose(1, 2); };
  const at::Tensor q = split(at::linear(x, L.q_w, L.q_b) * scale);
  const at::Tensor k = split(at::linear(x, L.k_w, L.k_b));
  const at::Tensor v = split(at::linear(x, L.v_w, L.v_b));
  at::Tensor s = at::matmul(q, k.transpose(-2, -1));  // [B, H, T, T]
  if (bias.defined()) s.add_(bias);
  s = at::softmax(s, -1);
  const at::Tensor o = at::matmul(s, v).transpose(1, 2).reshape({B, T, c.hidden});
  return at::linear(o, L.o_w, L.o_b);
}

at::Tensor mlp(const Config& c, const Layer& L, const at::Tensor& x) {
  return at::linear(activate(at::linear(x, L.fc1_w, L.fc1_b), c.act), L.fc2_w, L.fc2_b);
}

}  // namespace

at::Tensor forward(const Config& c, const std::vector<Layer>& layers, at::Tensor x, const at::Tensor& keep) {
  c10::InferenceMode guard;
  at::Tensor bias;  // [B, 1, 1, T]: 0 for real keys, the float minimum for padding (as Hugging Face)
  if (keep.defined()) {
    bias = at::zeros({x.size(0), 1, 1, x.size(1)}, x.options());
    bias.masked_fill_(keep.logical_not().view({x.size(0), 1, 1, x.size(1)}).to(x.device()),
                      std::numeric_limits<float>::lowest());
  }
  for (const Layer& L : layers) {
    if (c.norm == NormPlacement::pre) {
      x = x + attention(c, L, layer_norm(x, L.ln1_w, L.ln1_b, c.eps), bias);
      x = x + mlp(c, L, layer_norm(x, L.ln2_w, L.ln2_b, c.eps));
    } else {
      x = layer_norm(x + attention(c, L, x, bias), L.ln1_w, L.ln1_b, c.eps);
      x = layer_norm(x + mlp(c, L, x), L.ln2_w, L.ln2_b, c.eps);
    }
  }
  return x;
}

void to_device(std::vector<Layer>& layers, const at::Device& d) {
  for (Layer& L : layers) {
    for (at::Tensor* t : {&L.q_w, &L.q_b, &L.k_w, &L.k_b, &L.v_w, &L.v_b, &L.o_w, &L.o_b, &L.ln1_w, &L.ln1_b,
                          &L.ln2_w, &L.ln2_b, &L.fc1_w, &L.fc1_b, &L.fc2_w, &L.fc2_b}) {
      *t = t->to(d);
    }
  }
}

at::Device parse_device(const std::string& name) {
  at::Device d(at::kCPU);
  try {
    d = at::Device(name);
  } catch (const std::exception&) {
    throw Error("unknown device \"" + name + "\"", "use cpu, cuda or cuda:N");
  }
  if (d.is_cuda() && !at::hasCUDA()) {
    throw Error("device " + name + " asked for, but this libtorch has no CUDA device",
                "use --device cpu, or build against a CUDA libtorch on a machine with a GPU");
  }
  if (!d.is_cpu() && !d.is_cuda()) throw Error("unsupported device \"" + name + "\"", "use cpu or cuda");
  return d;
}

}  // namespace encoder
}  // namespace mtk::encoders
