// The generic decoder forward pass (see model.hpp) and the GGUF weight loader.
#include "mtk/llm/model.hpp"

#include <ATen/ATen.h>

#include <cmath>
#include <filesystem>
#include <limits>

#include "mtk/core/error.hpp"
#include "mtk/llm/gguf.hpp"
#include "mtk/llm/quant.hpp"

namespace mtk::llm {

namespace {

at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& w, double eps) {
  const at::Tensor xf = x.to(at::kFloat);
  const at::Tensor r = at::rsqrt(xf.pow(2).mean(-1, /*keepdim=*/true) + eps);
  return (xf * r).to(x.scalar_type()) * w;
}

at::Tensor linear(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b) {
  return b.defined() ? at::linear(x, w, b) : at::linear(x, w);
}

// x [B, n, H, hd]; cos/sin [B, n, 1, rope_dim/2].
at::Tensor rope(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin, int64_t rope_dim, bool neox) {
  const int64_t hd = x.size(-1);
  const int64_t half = rope_dim / 2;
  at::Tensor rot = rope_dim == hd ? x : x.narrow(-1, 0, rope_dim);
  at::Tensor out;
  if (neox) {
    const at::Tensor x1 = rot.narrow(-1, 0, half), x2 = rot.narrow(-1, half, half);
    out = at::cat({x1 * cos - x2 * sin, x2 * cos + x1 * sin}, -1);
  } else {
    const auto sizes = rot.sizes().vec();
    std::vector<int64_t> pair_shape(sizes.begin(), sizes.end() - 1);
    pair_shape.push_back(half);
    pair_shape.push_back(2);
    const at::Tensor p = rot.reshape(pair_shape);
    const at::Tensor xe = p.select(-1, 0), xo = p.select(-1, 1);
    out = at::stack({xe * cos - xo * sin, xe * sin + xo * cos}, -1).reshape(sizes);
  }
  if (rope_dim != hd) out = at::cat({out, x.narrow(-1, rope_dim, hd - rope_dim)}, -1);
  return out;
}

// cos/sin tables [B, n, 1, rope_dim/2] for the given positions (float32 arithmetic, as Hugging
// Face computes them).
std::pair<at::Tensor, at::Tensor> rope_tables(const ModelConfig& c, const at::Tensor& positions, double base,
                                              double linear_factor, bool use_factors, at::ScalarType dtype,
                                              at::Device dev) {
  const int64_t half = c.rope_dim / 2;
  at::Tensor inv = at::empty({half}, at::kFloat);
  float* p = inv.data_ptr<float>();
  const float fbase = static_cast<float>(base);
  for (int64_t i = 0; i < half; ++i) {
    float f = 1.0f / std::pow(fbase, static_cast<float>(2 * i) / static_cast<float>(c.rope_dim));
    if (use_factors && !c.rope_freq_factors.empty()) f /= c.rope_freq_factors[i];
    if (linear_factor != 1.0) f /= static_cast<float>(linear_factor);
    p[i] = f;
  }
  const at::Tensor ang = positions.to(at::kFloat).unsqueeze(-1) * inv;  // [B, n, half]
  return {ang.cos().unsqueeze(2).to(dev, dtype), ang.sin().unsqueeze(2).to(dev, dtype)};
}

// Additive attention mask [B, 1, 1, n, T] for queries at slots start..start+n-1 over keys 0..T-1.
at::Tensor attention_mask(const at::Tensor& pad, int64_t start, int64_t n, int64_t window, at::ScalarType dtype,
                          at::Device dev) {
  const int64_t T = start + n;
  const at::Tensor ks = at::arange(T, at::kLong).view({1, 1, T});
  const at::Tensor qs = at::arange(start, T, at::kLong).view({1, n, 1});
  at::Tensor ok = (ks >= pad.view({-1, 1, 1})).logical_and(ks <= qs);
  if (window > 0) ok = ok.logical_and((qs - ks) < window);
  ok = ok.logical_or(ks == qs);  // padding queries see themselves, so no row is empty
  at::Tensor m = at::zeros(ok.sizes(), at::kFloat).masked_fill_(ok.logical_not(), -std::numeric_limits<float>::infinity());
  return m.view({-1, 1, 1, n, T}).to(dev, dtype);
}

}  // namespace

void KvCache::select(const std::vector<int64_t>& rows) {
  if (rows.size() == pad.size()) {
    bool same = true;
    for (size_t i = 0; i < rows.size(); ++i) same = same && rows[i] == static_cast<int64_t>(i);
    if (same) return;
  }
  if (k.empty()) return;
  const at::Tensor idx = at::tensor(rows, at::kLong).to(k[0].device());
  for (auto& t : k) t = t.index_select(0, idx);
  for (auto& t : v) t = t.index_select(0, idx);
  std::vector<int64_t> np;
  for (int64_t r : rows) np.push_back(pad.at(static_cast<size_t>(r)));
  pad = std::move(np);
}

at::ScalarType Model::dtype() const { return w_.embed.scalar_type(); }
at::Device Model::device() const { return w_.embed.device(); }

int64_t Model::parameter_count() const {
  int64_t n = w_.embed.numel() + w_.output_norm.numel();
  if (!cfg_.tied_embeddings) n += w_.output.numel();
  for (const auto& l : w_.layers)
    for (const at::Tensor* t : {&l.attn_norm, &l.q, &l.k, &l.v, &l.o, &l.q_bias, &l.k_bias, &l.v_bias, &l.o_bias,
                                &l.q_norm, &l.k_norm, &l.post_attn_norm, &l.ffn_norm, &l.gate, &l.up, &l.down,
                                &l.post_ffw_norm})
      if (t->defined()) n += t->numel();
  return n;
}

KvCache Model::new_cache(const std::vector<int64_t>& pad, int64_t capacity) const {
  KvCache c;
  c.pad = pad;
  c.capacity = capacity;
  const int64_t B = static_cast<int64_t>(pad.size());
  const auto opts = at::TensorOptions().dtype(dtype()).device(device());
  for (int64_t i = 0; i < cfg_.n_layers; ++i) {
    c.k.push_back(at::empty({B, cfg_.n_kv_heads, capacity, cfg_.head_dim}, opts));
    c.v.push_back(at::empty({B, cfg_.n_kv_heads, capacity, cfg_.head_dim}, opts));
  }
  return c;
}

at::Tensor Model::layer(int64_t i, const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin,
                        const at::Tensor& cos_local, const at::Tensor& sin_local, const at::Tensor& mask,
                        const at::Tensor& mask_local, KvCache* cache, int64_t start) const {
  const ModelConfig& c = cfg_;
  const LayerWeights& L = w_.layers[static_cast<size_t>(i)];
  const bool local = c.layer_is_local[static_cast<size_t>(i)];
  const int64_t B = x.size(0), n = x.size(1), nh = c.n_heads, nkv = c.n_kv_heads, hd = c.head_dim, G = nh / nkv;

  at::Tensor h = rms_norm(x, L.attn_norm, c.rms_eps);
  at::Tensor q = linear(h, L.q, L.q_bias).view({B, n, nh, hd});
  at::Tensor k = linear(h, L.k, L.k_bias).view({B, n, nkv, hd});
  at::Tensor v = linear(h, L.v, L.v_bias).view({B, n, nkv, hd});
  if (c.qk_norm) {
    q = rms_norm(q, L.q_norm, c.rms_eps);
    k = rms_norm(k, L.k_norm, c.rms_eps);
  }
  q = rope(q, local ? cos_local : cos, local ? sin_local : sin, c.rope_dim, c.rope_neox);
  k = rope(k, local ? cos_local : cos, local ? sin_local : sin, c.rope_dim, c.rope_neox);
  k = k.transpose(1, 2);  // [B, nkv, n, hd]
  v = v.transpose(1, 2);
  at::Tensor K = k, V = v;
  if (cache) {
    cache->k[static_cast<size_t>(i)].narrow(2, start, n).copy_(k);
    cache->v[static_cast<size_t>(i)].narrow(2, start, n).copy_(v);
    K = cache->k[static_cast<size_t>(i)].narrow(2, 0, start + n);
    V = cache->v[static_cast<size_t>(i)].narrow(2, 0, start + n);
  }
  const int64_t T = K.size(2);
  // Queries grouped by their key/value head: [B, nkv, G*n, hd], rows ordered (g, position).
  const at::Tensor qg = q.view({B, n, nkv, G, hd}).permute({0, 2, 3, 1, 4}).reshape({B, nkv, G * n, hd});
  at::Tensor s = at::matmul(qg, K.transpose(-1, -2)).mul_(c.scale());
  if (c.attn_logit_softcap > 0) s = at::tanh(s / c.attn_logit_softcap) * c.attn_logit_softcap;
  s = (s.view({B, nkv, G, n, T}) + (local ? mask_local : mask)).softmax(-1);
  at::Tensor a = at::matmul(s.view({B, nkv, G * n, T}), V)
                     .view({B, nkv, G, n, hd})
                     .permute({0, 3, 1, 2, 4})
                     .reshape({B, n, nh * hd});
  at::Tensor o = linear(a, L.o, L.o_bias);
  if (c.post_norms) o = rms_norm(o, L.post_attn_norm, c.rms_eps);
  at::Tensor xr = x + o;

  h = rms_norm(xr, L.ffn_norm, c.rms_eps);
  at::Tensor g = at::linear(h, L.gate);
  g = c.act == Activation::SiLU ? at::silu(g) : at::gelu(g, "tanh");
  at::Tensor f = at::linear(g.mul_(at::linear(h, L.up)), L.down);
  if (c.post_norms) f = rms_norm(f, L.post_ffw_norm, c.rms_eps);
  return xr + f;
}

at::Tensor Model::forward(const at::Tensor& tokens_in, KvCache* cache, bool last_only) const {
  const ModelConfig& c = cfg_;
  if (tokens_in.dim() != 2) throw Error("Model::forward: tokens must be [batch, n]", "internal error");
  const at::Tensor tokens = tokens_in.to(device(), at::kLong);
  const int64_t B = tokens.size(0), n = tokens.size(1);
  const int64_t start = cache ? cache->length : 0;
  if (cache) {
    if (cache->batch() != B)
      throw Error("Model::forward: batch " + std::to_string(B) + " does not match the cache's " +
                      std::to_string(cache->batch()),
                  "internal error");
    if (start + n > cache->capacity)
      throw Error("Model::forward: " + std::to_string(start + n) + " slots exceed the cache capacity " +
                      std::to_string(cache->capacity),
                  "raise the cache capacity (max tokens)");
  }
  at::Tensor pad = cache ? at::tensor(cache->pad, at::kLong) : at::zeros({B}, at::kLong);
  // Positions [B, n] = slot - pad (clamped at 0 for padding slots).
  const at::Tensor positions = (at::arange(start, start + n, at::kLong).view({1, n}) - pad.view({B, 1})).clamp_min(0);

  auto [cos, sin] = rope_tables(c, positions, c.rope_base, c.rope_linear_factor, true, dtype(), device());
  at::Tensor cos_l, sin_l, mask_l;
  bool any_local = false;
  for (bool l : c.layer_is_local) any_local = any_local || l;
  if (any_local) std::tie(cos_l, sin_l) = rope_tables(c, positions, c.rope_base_local, 1.0, false, dtype(), device());
  const at::Tensor mask = attention_mask(pad, start, n, 0, dtype(), device());
  if (any_local) mask_l = attention_mask(pad, start, n, c.sliding_window, dtype(), device());

  at::Tensor x = at::embedding(w_.embed, tokens);  // [B, n, H]
  if (c.embed_scale) x = x * std::sqrt(static_cast<double>(c.hidden));
  for (int64_t i = 0; i < c.n_layers; ++i) x = layer(i, x, cos, sin, cos_l, sin_l, mask, mask_l, cache, start);
  if (cache) cache->length = start + n;
  if (last_only) x = x.narrow(1, n - 1, 1);
  x = rms_norm(x, w_.output_norm, c.rms_eps);
  at::Tensor logits = at::linear(x, w_.output).to(at::kFloat);
  if (c.final_logit_softcap > 0) logits = at::tanh(logits / c.final_logit_softcap) * c.final_logit_softcap;
  return logits;
}

// ---- loading ------------------------------------------------------------------------------------

std::unique_ptr<Model> Model::from_tensors(ModelConfig cfg, const TensorSource& get, const LoadOptions& opt,
                                           const std::string& source) {
  std::unique_ptr<Model> m(new Model());
  m->cfg_ = std::move(cfg);
  const ModelConfig& c = m->cfg_;
  at::ScalarType dt = at::kFloat;
  if (opt.dtype == "bf16") dt = at::kBFloat16;
  else if (opt.dtype == "f16") dt = at::kHalf;
  else if (opt.dtype != "f32") throw Error("unknown dtype '" + opt.dtype + "'", "use f32, bf16 or f16");
  at::Device dev(opt.device);

  auto load = [&](const std::string& name, std::vector<int64_t> shape, bool required) -> at::Tensor {
    at::Tensor t = get(name);
    if (!t.defined()) {
      if (required) throw Error(source + ": tensor " + name + " is missing", "the file is not a complete " + c.arch + " model");
      return t;
    }
    if (t.sizes().vec() != shape) {
      std::string want, got;
      for (auto d : shape) want += (want.empty() ? "" : "x") + std::to_string(d);
      for (auto d : t.sizes()) got += (got.empty() ? "" : "x") + std::to_string(d);
      throw Error(source + ": tensor " + name + " has shape " + got + ", expected " + want,
                  "the file does not match its own hyper-parameters");
    }
    return t.to(dev, dt).contiguous();
  };
  const int64_t H = c.hidden, hd = c.head_dim, nh = c.n_heads, nkv = c.n_kv_heads, F = c.intermediate;
  ModelWeights& w = m->w_;
  w.embed = load("token_embd.weight", {c.vocab_size, H}, true);
  w.output_norm = load("output_norm.weight", {H}, true);
  w.output = c.tied_embeddings ? w.embed : load("output.weight", {c.vocab_size, H}, true);
  for (int64_t i = 0; i < c.n_layers; ++i) {
    const std::string p = "blk." + std::to_string(i) + ".";
    LayerWeights L;
    L.attn_norm = load(p + "attn_norm.weight", {H}, true);
    L.q = load(p + "attn_q.weight", {nh * hd, H}, true);
    L.k = load(p + "attn_k.weight", {nkv * hd, H}, true);
    L.v = load(p + "attn_v.weight", {nkv * hd, H}, true);
    L.o = load(p + "attn_output.weight", {H, nh * hd}, true);
    L.q_bias = load(p + "attn_q.bias", {nh * hd}, c.qkv_bias);
    L.k_bias = load(p + "attn_k.bias", {nkv * hd}, c.qkv_bias);
    L.v_bias = load(p + "attn_v.bias", {nkv * hd}, c.qkv_bias);
    L.o_bias = load(p + "attn_output.bias", {H}, c.o_bias);
    if (c.qk_norm) {
      L.q_norm = load(p + "attn_q_norm.weight", {hd}, true);
      L.k_norm = load(p + "attn_k_norm.weight", {hd}, true);
    }
    L.ffn_norm = load(p + "ffn_norm.weight", {H}, true);
    if (c.post_norms) {
      L.post_attn_norm = load(p + "post_attention_norm.weight", {H}, true);
      L.post_ffw_norm = load(p + "post_ffw_norm.weight", {H}, true);
    }
    L.gate = load(p + "ffn_gate.weight", {F, H}, true);
    L.up = load(p + "ffn_up.weight", {F, H}, true);
    L.down = load(p + "ffn_down.weight", {H, F}, true);
    w.layers.push_back(std::move(L));
  }
  return m;
}

std::unique_ptr<Model> Model::from_gguf(const GgufFile& f, const LoadOptions& opt) {
  ModelConfig cfg = config_from_gguf(f);
  const TensorSource get = [&f](const std::string& name) -> at::Tensor {
    const GgufTensor* t = f.find_tensor(name);
    if (!t) return {};
    std::vector<int64_t> shape;
    for (auto it = t->dims.rbegin(); it != t->dims.rend(); ++it) shape.push_back(static_cast<int64_t>(*it));
    at::Tensor out = at::empty(shape, at::kFloat);
    dequantize_rows(t->type, t->data, out.data_ptr<float>(), t->n_rows(), t->row_length());
    return out;
  };
  return from_tensors(std::move(cfg), get, opt, f.path());
}

std::unique_ptr<Model> Model::load(const std::string& path, const LoadOptions& opt) {
  namespace stdfs = std::filesystem;
  if (stdfs::is_directory(path)) return load_hf_model(path, opt);
  if (!stdfs::exists(path))
    throw Error("model " + path + " does not exist", "pass a .gguf file or a Hugging Face model directory");
  const GgufFile f = GgufFile::open(path);
  return from_gguf(f, opt);
}

}  // namespace mtk::llm
