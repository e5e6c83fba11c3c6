// The generic decoder forward pass (see model.hpp) and the GGUF weight loader.
#include "mtk/llm/model.hpp"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <c10/core/InferenceMode.h>
#include <torch/csrc/autograd/autograd.h>
#include <torch/csrc/autograd/custom_function.h>

#include <dlfcn.h>
#include <malloc.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <limits>
#include <optional>
#include <mutex>

#include "mtk/core/error.hpp"
#include "mtk/llm/gguf.hpp"
#include "mtk/llm/llamacpp_numerics.hpp"
#include "mtk/llm/nf4.hpp"
#include "mtk/llm/lora_torch.hpp"
#include "mtk/llm/qmatmul.hpp"
#include "mtk/llm/quant.hpp"

namespace mtk::llm {

namespace {

at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& w, double eps) {
  const at::Tensor xf = x.scalar_type() == at::kDouble ? x : x.to(at::kFloat);  // float64: gradient checks
  const at::Tensor r = at::rsqrt(xf.pow(2).mean(-1, /*keepdim=*/true) + eps);
  return (xf * r).to(x.scalar_type()) * w;
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

// Activation rows up to which a quantised matrix is multiplied block by block (decode); above it
// the matrix is dequantised and handed to BLAS.
constexpr int64_t kQmatmulMaxRows = 16;

// CPU threading. libtorch runs its own parallel loops on OpenMP threads, which spin for a while
// after each loop; OpenBLAS (Debian's libtorch calls it through libblas.so.3) runs on a second set
// of threads that spin too. On a small machine the two sets fight for the cores: a 128-token
// prefill of SmolLM2 took 1.0 s instead of 0.35 s. So OpenBLAS is made single-threaded and the
// big matrix products below are split over the OpenMP threads by weight rows instead.
void single_threaded_blas() {
  static std::once_flag once;
  std::call_once(once, [] {
    using SetThreads = void (*)(int);
    if (auto f = reinterpret_cast<SetThreads>(::dlsym(RTLD_DEFAULT, "openblas_set_num_threads"))) f(1);
  });
}

// Memory. Long prefills allocate large temporaries every layer (the attention scores of 8 prompts of
// 1,900 tokens: about 1 GiB). glibc serves blocks over 32 MiB with mmap and unmaps them on free, so
// each layer paid the page faults and zeroing again; a third of a batch-8 1024-token prefill went to
// the kernel. Keeping freed memory in the heap made it 1.45x faster (`bench_llm --batch 8 --prompt
// 1024 --new 32 --no-peer`: 317 -> 461 tokens/s; decode 71.8 -> 74.8) at the same peak RSS. Left
// alone when the user tunes glibc's allocator through its environment variables.
void keep_freed_memory() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (std::getenv("GLIBC_TUNABLES") || std::getenv("MALLOC_MMAP_MAX_") || std::getenv("MALLOC_TRIM_THRESHOLD_")) return;
    mallopt(M_MMAP_MAX, 0);
    mallopt(M_TRIM_THRESHOLD, INT_MAX);
  });
}

// y = x W^T for x [rows, in] with W given by rows: `rows_of(o0, o1)` returns W[o0:o1] as a float
// tensor [o1 - o0, in]. Split over the intra-op threads by weight rows; each part is one BLAS call.
template <typename RowsOf>
at::Tensor parallel_linear(const at::Tensor& x2d, int64_t out, const RowsOf& rows_of) {
  const int64_t rows = x2d.size(0);
  at::Tensor yT = at::empty({out, rows}, x2d.options());
  const at::Tensor xT = x2d.t();
  const int64_t threads = at::get_num_threads();
  const int64_t chunk = std::max<int64_t>(64, (out + threads - 1) / threads);
  const bool inference = c10::InferenceMode::is_enabled();  // thread-local: carry it to the workers
  at::parallel_for(0, (out + chunk - 1) / chunk, 1, [&](int64_t c0, int64_t c1) {
    c10::InferenceMode guard(inference);
    for (int64_t c = c0; c < c1; ++c) {
      const int64_t o0 = c * chunk, o1 = std::min(out, o0 + chunk);
      at::Tensor part = yT.narrow(0, o0, o1 - o0);
      at::mm_out(part, rows_of(o0, o1), xT);
    }
  });
  return yT.t();
}

at::Tensor Weight::dequantized() const {
  if (dense.defined()) return dense;
  if (nf4_packed.defined()) return nf4_dequantize({nf4_packed, nf4_absmax}, out, in);
  at::Tensor out_t = at::empty({out, in}, at::kFloat);
  dequantize_rows(type, blocks->data(), out_t.data_ptr<float>(), static_cast<size_t>(out), static_cast<size_t>(in));
  return out_t;
}

at::Tensor Weight::linear(const at::Tensor& x, const at::Tensor& bias) const {
  // Training: the base is frozen, the gradient goes to x only (lora.cpp).
  if (x.requires_grad() && at::GradMode::is_enabled()) return frozen_linear(*this, x, bias);
  if (nf4_packed.defined()) {
    const at::Tensor w = dequantized().to(x.scalar_type());
    return bias.defined() ? at::linear(x, w, bias) : at::linear(x, w);
  }
  const int64_t rows = x.numel() / in;
  const bool cpu_f32 = x.device().is_cpu() && x.scalar_type() == at::kFloat;
  if (dense.defined() && (!cpu_f32 || rows <= kQmatmulMaxRows || x.requires_grad() || dense.requires_grad()))
    return bias.defined() ? at::linear(x, dense, bias) : at::linear(x, dense);
  if (dense.defined() || rows > kQmatmulMaxRows || !qmatmul_supported(type)) {
    auto shape = x.sizes().vec();
    shape.back() = out;
    const at::Tensor x2d = x.reshape({rows, in});
    at::Tensor y;
    if (dense.defined()) {
      y = parallel_linear(x2d, out, [&](int64_t o0, int64_t o1) { return dense.narrow(0, o0, o1 - o0); });
    } else {
      const size_t row_bytes = bytes_for(type, static_cast<uint64_t>(in));
      y = parallel_linear(x2d, out, [&](int64_t o0, int64_t o1) {
        at::Tensor w = at::empty({o1 - o0, in}, at::kFloat);
        dequantize_rows(type, blocks->data() + static_cast<size_t>(o0) * row_bytes, w.data_ptr<float>(),
                        static_cast<size_t>(o1 - o0), static_cast<size_t>(in), 1);
        return w;
      });
    }
    y = y.reshape(shape);
    if (bias.defined()) y = y + bias;
    return y;
  }
  const at::Tensor xc = x.contiguous();
  auto shape = x.sizes().vec();
  shape.back() = out;
  at::Tensor y = at::empty(shape, at::kFloat);
  qmatmul(type, blocks->data(), out, in, xc.data_ptr<float>(), rows, y.data_ptr<float>());
  if (bias.defined()) y.add_(bias);
  return y;
}

at::Tensor Weight::rows(const at::Tensor& ids) const {
  if (dense.defined()) return at::embedding(dense, ids);
  const at::Tensor flat = ids.reshape({-1}).to(at::kCPU).contiguous();
  at::Tensor outp = at::empty({flat.numel(), in}, at::kFloat);
  const size_t row_bytes = bytes_for(type, static_cast<uint64_t>(in));
  const int64_t* id = flat.data_ptr<int64_t>();
  for (int64_t i = 0; i < flat.numel(); ++i) {
    if (id[i] < 0 || id[i] >= out) throw Error("token id " + std::to_string(id[i]) + " is out of range", "internal error");
    dequantize(type, blocks->data() + static_cast<size_t>(id[i]) * row_bytes, outp.data_ptr<float>() + i * in,
               static_cast<size_t>(in));
  }
  auto shape = ids.sizes().vec();
  shape.push_back(in);
  return outp.view(shape);
}

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

at::ScalarType Model::dtype() const { return w_.output_norm.scalar_type(); }
at::Device Model::device() const { return w_.output_norm.device(); }

int64_t Model::parameter_count() const {
  int64_t n = w_.embed.numel() + w_.output_norm.numel();
  if (!cfg_.tied_embeddings) n += w_.output.numel();
  for (const auto& l : w_.layers) {
    for (const at::Tensor* t : {&l.attn_norm, &l.q_bias, &l.k_bias, &l.v_bias, &l.o_bias, &l.q_norm, &l.k_norm,
                                &l.post_attn_norm, &l.ffn_norm, &l.post_ffw_norm})
      if (t->defined()) n += t->numel();
    for (const Weight* w : {&l.q, &l.k, &l.v, &l.o, &l.gate, &l.up, &l.down}) n += w->numel();
  }
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

std::pair<at::Tensor, at::Tensor> KvCache::append(size_t layer, const at::Tensor& k_new, const at::Tensor& v_new,
                                                  int64_t start) {
  const int64_t n = k_new.size(2);
  k[layer].narrow(2, start, n).copy_(k_new);
  v[layer].narrow(2, start, n).copy_(v_new);
  return {k[layer].narrow(2, 0, start + n), v[layer].narrow(2, 0, start + n)};
}

// One decoder layer in float arithmetic (the llama.cpp numerics mode has its own,
// llamacpp_forward.cpp).
at::Tensor Model::layer(int64_t i, const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin,
                        const at::Tensor& cos_local, const at::Tensor& sin_local, const at::Tensor& mask,
                        const at::Tensor& mask_local, KvCache* cache, int64_t start) const {
  const ModelConfig& c = cfg_;
  const LayerWeights& L = w_.layers[static_cast<size_t>(i)];
  const bool local = c.layer_is_local[static_cast<size_t>(i)];
  const int64_t B = x.size(0), n = x.size(1), nh = c.n_heads, nkv = c.n_kv_heads, hd = c.head_dim, G = nh / nkv;

  // A linear layer plus its LoRA term when an adapter is attached.
  const auto lin = [&](const Weight& w, const at::Tensor& in, const at::Tensor& bias, LoraSlot slot) {
    at::Tensor y = w.linear(in, bias);
    return lora_ ? lora_apply(*lora_, i, slot, in, y) : y;
  };
  at::Tensor h = rms_norm(x, L.attn_norm, c.rms_eps);
  at::Tensor q = lin(L.q, h, L.q_bias, LoraSlot::q).view({B, n, nh, hd});
  at::Tensor k = lin(L.k, h, L.k_bias, LoraSlot::k).view({B, n, nkv, hd});
  at::Tensor v = lin(L.v, h, L.v_bias, LoraSlot::v).view({B, n, nkv, hd});
  if (c.qk_norm) {
    q = rms_norm(q, L.q_norm, c.rms_eps);
    k = rms_norm(k, L.k_norm, c.rms_eps);
  }
  q = rope(q, local ? cos_local : cos, local ? sin_local : sin, c.rope_dim, c.rope_neox);
  k = rope(k, local ? cos_local : cos, local ? sin_local : sin, c.rope_dim, c.rope_neox);
  k = k.transpose(1, 2);  // [B, nkv, n, hd]
  v = v.transpose(1, 2);
  at::Tensor K = k, V = v;
  if (cache) std::tie(K, V) = cache->append(static_cast<size_t>(i), k, v, start);

  const int64_t T = K.size(2);
  const at::Tensor& m = local ? mask_local : mask;
  // Queries [i0, i0 + nc): [B, nc, nh * hd].
  const auto attend = [&](int64_t i0, int64_t nc) {
    // Queries grouped by their key/value head: [B, nkv, G*nc, hd], rows ordered (g, position).
    const at::Tensor qg =
        q.narrow(1, i0, nc).reshape({B, nc, nkv, G, hd}).permute({0, 2, 3, 1, 4}).reshape({B, nkv, G * nc, hd});
    at::Tensor s = at::matmul(qg, K.transpose(-1, -2)).mul_(c.scale());
    if (c.attn_logit_softcap > 0) s = at::tanh(s / c.attn_logit_softcap) * c.attn_logit_softcap;
    s = (s.view({B, nkv, G, nc, T}) + m.narrow(3, i0, nc)).softmax(-1);
    return at::matmul(s.view({B, nkv, G * nc, T}), V).view({B, nkv, G, nc, hd}).permute({0, 3, 1, 2, 4}).reshape({B, nc, nh * hd});
  };
  // Long prompts in chunks of queries whose scores stay within attention_chunk_bytes (16 MiB): one
  // pass over 8 prompts of 2,048 tokens made score tensors of 1.2 GiB per layer, and the memory
  // traffic, not the arithmetic, set the prefill speed (bench_llm --batch 8 --prompt 2048 --new 16
  // --no-peer: 179 -> 314 tokens/s, peak RSS 5.1 -> 1.9 GiB).
  const int64_t chunk = std::max<int64_t>(16, attn_chunk_bytes_ / std::max<int64_t>(1, B * nh * T * 4));
  at::Tensor a;
  if (n <= chunk) {
    a = attend(0, n);
  } else {
    std::vector<at::Tensor> parts;
    for (int64_t i0 = 0; i0 < n; i0 += chunk) parts.push_back(attend(i0, std::min(chunk, n - i0)));
    a = at::cat(parts, 1);
  }
  at::Tensor o = lin(L.o, a, L.o_bias, LoraSlot::o);
  if (c.post_norms) o = rms_norm(o, L.post_attn_norm, c.rms_eps);
  at::Tensor xr = x + o;

  h = rms_norm(xr, L.ffn_norm, c.rms_eps);
  at::Tensor g = lin(L.gate, h, {}, LoraSlot::gate);
  at::Tensor up = lin(L.up, h, {}, LoraSlot::up);
  g = c.act == Activation::SiLU ? at::silu(g) : at::gelu(g, "tanh");
  g.mul_(up);
  at::Tensor f = lin(L.down, g, {}, LoraSlot::down);
  if (c.post_norms) f = rms_norm(f, L.post_ffw_norm, c.rms_eps);
  return xr + f;
}

at::Tensor Model::forward(const at::Tensor& tokens_in, KvCache* cache, bool last_only) const {
  if (path_) return path_->forward(*this, tokens_in, cache, last_only);
  at::Tensor x = trunk(tokens_in, cache);
  if (last_only) x = x.narrow(1, x.size(1) - 1, 1);
  return output_logits(rms_norm(x, w_.output_norm, cfg_.rms_eps));
}

void Model::set_llamacpp_numerics(bool on) { path_ = on ? &lcn::forward_path() : nullptr; }

at::Tensor Model::forward_hidden(const at::Tensor& tokens) const {
  return rms_norm(trunk(tokens, nullptr), w_.output_norm, cfg_.rms_eps);
}

at::Tensor Model::output_logits(const at::Tensor& x) const { return finish_logits(w_.output.linear(x)); }

at::Tensor Model::finish_logits(at::Tensor logits) const {
  const ModelConfig& c = cfg_;
  logits = logits.scalar_type() == at::kDouble ? logits : logits.to(at::kFloat);
  if (c.final_logit_softcap > 0) logits = at::tanh(logits / c.final_logit_softcap) * c.final_logit_softcap;
  return logits;
}

// One decoder layer run without recording its graph; backward re-runs it with autograd on and
// differentiates the recomputed output (gradient checkpointing). The model and the tables outlive
// the backward pass (a training step holds them).
struct LayerCheckpoint : public torch::autograd::Function<LayerCheckpoint> {
  // The RoPE tables and masks of the pass (some undefined), passed by pointer: autograd inputs
  // must be defined tensors.
  struct Tables {
    at::Tensor cos, sin, cos_l, sin_l, mask, mask_l;
  };
  static torch::autograd::variable_list forward(torch::autograd::AutogradContext* ctx, const at::Tensor& x,
                                                at::TensorList params, const Model* m, int64_t i,
                                                const Tables* t) {
    torch::autograd::variable_list saved = {x};
    saved.insert(saved.end(), params.begin(), params.end());
    ctx->save_for_backward(saved);
    ctx->saved_data["model"] = static_cast<int64_t>(reinterpret_cast<intptr_t>(m));
    ctx->saved_data["layer"] = i;
    for (const auto& [k, v] : {std::pair<const char*, const at::Tensor*>{"cos", &t->cos}, {"sin", &t->sin},
                               {"cos_l", &t->cos_l}, {"sin_l", &t->sin_l}, {"mask", &t->mask}, {"mask_l", &t->mask_l}})
      if (v->defined()) ctx->saved_data[k] = *v;
    at::NoGradGuard no_grad;
    return {m->layer(i, x.detach(), t->cos, t->sin, t->cos_l, t->sin_l, t->mask, t->mask_l, nullptr, 0)};
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const Model* m = reinterpret_cast<const Model*>(static_cast<intptr_t>(ctx->saved_data["model"].toInt()));
    auto tensor = [&](const char* k) {
      auto it = ctx->saved_data.find(k);
      return it == ctx->saved_data.end() ? at::Tensor() : it->second.toTensor();
    };
    const at::Tensor x = saved[0].detach().requires_grad_(true);
    torch::autograd::variable_list inputs = {x};
    for (size_t k = 1; k < saved.size(); ++k) inputs.push_back(saved[k]);
    at::Tensor y;
    {
      at::AutoGradMode grad_on(true);
      y = m->layer(ctx->saved_data["layer"].toInt(), x, tensor("cos"), tensor("sin"), tensor("cos_l"), tensor("sin_l"),
                   tensor("mask"), tensor("mask_l"), nullptr, 0);
    }
    auto g = torch::autograd::grad({y}, inputs, {grads[0]}, false, false, true);
    // One gradient per forward input: x, each adapter tensor, then none for the model, the layer
    // index and the tables.
    torch::autograd::variable_list out = g;
    for (int k = 0; k < 3; ++k) out.emplace_back();
    return out;
  }
};

namespace {
// The adapter tensors of layer i (the inputs whose gradients a checkpointed layer returns).
torch::autograd::variable_list layer_parameters(const LoraSet* set, int64_t i) {
  torch::autograd::variable_list out;
  if (!set) return out;
  const auto& m = set->impl();
  for (int s = 0; s < kLoraSlots; ++s)
    if (m.active[s]) {
      out.push_back(m.A[static_cast<size_t>(i)][static_cast<size_t>(s)]);
      out.push_back(m.B[static_cast<size_t>(i)][static_cast<size_t>(s)]);
    }
  return out;
}
}  // namespace

PassInputs Model::begin_pass(const at::Tensor& tokens_in, const KvCache* cache) const {
  if (tokens_in.dim() != 2) throw Error("Model::forward: tokens must be [batch, n]", "internal error");
  PassInputs p;
  p.tokens = tokens_in.to(device(), at::kLong);
  p.batch = p.tokens.size(0);
  p.n = p.tokens.size(1);
  p.start = cache ? cache->length : 0;
  if (cache) {
    if (cache->batch() != p.batch)
      throw Error("Model::forward: batch " + std::to_string(p.batch) + " does not match the cache's " +
                      std::to_string(cache->batch()),
                  "internal error");
    if (p.start + p.n > cache->capacity)
      throw Error("Model::forward: " + std::to_string(p.start + p.n) + " slots exceed the cache capacity " +
                      std::to_string(cache->capacity),
                  "raise the cache capacity (max tokens)");
  }
  p.pad = cache ? at::tensor(cache->pad, at::kLong) : at::zeros({p.batch}, at::kLong);
  p.positions =
      (at::arange(p.start, p.start + p.n, at::kLong).view({1, p.n}) - p.pad.view({p.batch, 1})).clamp_min(0);
  return p;
}

at::Tensor Model::embed(const at::Tensor& tokens) const {
  at::Tensor x = w_.embed.rows(tokens);  // [B, n, H]
  if (cfg_.embed_scale) x = x * std::sqrt(static_cast<double>(cfg_.hidden));
  return x;
}

// Embedding and decoder layers (before the final norm); appends to the cache when given.
at::Tensor Model::trunk(const at::Tensor& tokens_in, KvCache* cache) const {
  const ModelConfig& c = cfg_;
  const PassInputs p = begin_pass(tokens_in, cache);
  auto [cos, sin] = rope_tables(c, p.positions, c.rope_base, c.rope_linear_factor, true, dtype(), device());
  at::Tensor cos_l, sin_l, mask_l;
  bool any_local = false;
  for (bool l : c.layer_is_local) any_local = any_local || l;
  if (any_local) std::tie(cos_l, sin_l) = rope_tables(c, p.positions, c.rope_base_local, 1.0, false, dtype(), device());
  const at::Tensor mask = attention_mask(p.pad, p.start, p.n, 0, dtype(), device());
  if (any_local) mask_l = attention_mask(p.pad, p.start, p.n, c.sliding_window, dtype(), device());

  at::Tensor x = embed(p.tokens);
  const bool ckpt = grad_ckpt_ && !cache && at::GradMode::is_enabled();
  // Kept alive with the graph: each checkpointed layer saves the tables it needs for its backward.
  const LayerCheckpoint::Tables tables{cos, sin, cos_l, sin_l, mask, mask_l};
  for (int64_t i = 0; i < c.n_layers; ++i)
    x = ckpt ? LayerCheckpoint::apply(x, at::TensorList(layer_parameters(lora_.get(), i)), this, i, &tables)[0]
             : layer(i, x, cos, sin, cos_l, sin_l, mask, mask_l, cache, p.start);
  if (cache) cache->length = p.start + p.n;
  return x;
}

// ---- loading ------------------------------------------------------------------------------------

std::unique_ptr<Model> Model::from_tensors(ModelConfig cfg, const TensorSource& get, const LoadOptions& opt,
                                           const std::string& source) {
  single_threaded_blas();
  keep_freed_memory();
  std::unique_ptr<Model> m(new Model());
  m->cfg_ = std::move(cfg);
  m->set_llamacpp_numerics(opt.llamacpp_numerics);
  const ModelConfig& c = m->cfg_;
  at::ScalarType dt = at::kFloat;
  if (opt.dtype == "bf16") dt = at::kBFloat16;
  else if (opt.dtype == "f16") dt = at::kHalf;
  else if (opt.dtype != "f32") throw Error("unknown dtype '" + opt.dtype + "'", "use f32, bf16 or f16");
  at::Device dev(opt.device);

  const bool keep_blocks = opt.keep_quantized && opt.quantize.empty() && dev.is_cpu() && dt == at::kFloat;
  auto fetch = [&](const std::string& name, std::vector<int64_t> shape, bool required) -> Weight {
    Weight t = get(name);
    if (!t.defined()) {
      if (required) throw Error(source + ": tensor " + name + " is missing", "the file is not a complete " + c.arch + " model");
      return t;
    }
    const std::vector<int64_t> have = t.dense.defined() ? t.dense.sizes().vec()
                                      : std::vector<int64_t>{t.out, t.in};
    std::vector<int64_t> want = shape;
    if (!t.dense.defined() && want.size() == 1) want.insert(want.begin(), 1);
    if (have != want) {
      std::string ws, gs;
      for (auto d : shape) ws += (ws.empty() ? "" : "x") + std::to_string(d);
      for (auto d : have) gs += (gs.empty() ? "" : "x") + std::to_string(d);
      throw Error(source + ": tensor " + name + " has shape " + gs + ", expected " + ws,
                  "the file does not match its own hyper-parameters");
    }
    const bool keep = qmatmul_supported(t.type) || (opt.llamacpp_numerics && lcn::exact_supported(t.type));
    if (t.blocks && (!keep_blocks || shape.size() == 1 || !keep)) {
      t.dense = t.dequantized().view(shape);
      t.blocks.reset();
    }
    if (t.dense.defined()) {
      t.dense = t.dense.to(dev, dt).contiguous();
      if (shape.size() == 2) {
        t.out = shape[0];
        t.in = shape[1];
      }
    }
    return t;
  };
  auto load = [&](const std::string& name, std::vector<int64_t> shape, bool required) -> at::Tensor {
    return fetch(name, std::move(shape), required).dense;
  };
  auto load_w = [&](const std::string& name, std::vector<int64_t> shape) -> Weight { return fetch(name, std::move(shape), true); };
  const int64_t H = c.hidden, hd = c.head_dim, nh = c.n_heads, nkv = c.n_kv_heads, F = c.intermediate;
  ModelWeights& w = m->w_;
  w.embed = load_w("token_embd.weight", {c.vocab_size, H});
  w.output_norm = load("output_norm.weight", {H}, true);
  w.output = c.tied_embeddings ? w.embed : load_w("output.weight", {c.vocab_size, H});
  for (int64_t i = 0; i < c.n_layers; ++i) {
    const std::string p = "blk." + std::to_string(i) + ".";
    LayerWeights L;
    L.attn_norm = load(p + "attn_norm.weight", {H}, true);
    L.q = load_w(p + "attn_q.weight", {nh * hd, H});
    L.k = load_w(p + "attn_k.weight", {nkv * hd, H});
    L.v = load_w(p + "attn_v.weight", {nkv * hd, H});
    L.o = load_w(p + "attn_output.weight", {H, nh * hd});
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
    L.gate = load_w(p + "ffn_gate.weight", {F, H});
    L.up = load_w(p + "ffn_up.weight", {F, H});
    L.down = load_w(p + "ffn_down.weight", {H, F});
    if (opt.quantize == "nf4") {
      for (Weight* x : {&L.q, &L.k, &L.v, &L.o, &L.gate, &L.up, &L.down}) {
        if (!x->dense.defined() || x->dense.numel() % 64 != 0) continue;
        const Nf4Blocks q = nf4_quantize(x->dense);
        x->nf4_packed = q.packed;
        x->nf4_absmax = q.absmax;
        x->out = x->dense.size(0);
        x->in = x->dense.size(1);
        x->dense = at::Tensor();
      }
    } else if (!opt.quantize.empty()) {
      throw Error("unknown quantisation '" + opt.quantize + "'", "use quantize \"nf4\" or leave it empty");
    }
    w.layers.push_back(std::move(L));
  }
  return m;
}

std::unique_ptr<Model> Model::from_gguf(const GgufFile& f, const LoadOptions& opt) {
  ModelConfig cfg = config_from_gguf(f);
  const TensorSource get = [&f](const std::string& name) -> Weight {
    Weight w;
    const GgufTensor* t = f.find_tensor(name);
    if (!t) return w;
    w.type = t->type;
    w.in = static_cast<int64_t>(t->row_length());
    w.out = static_cast<int64_t>(t->n_rows());
    if (t->dims.size() > 2) {
      std::vector<int64_t> shape;
      for (auto it = t->dims.rbegin(); it != t->dims.rend(); ++it) shape.push_back(static_cast<int64_t>(*it));
      Weight tmp = w;
      tmp.blocks = std::make_shared<const std::vector<uint8_t>>(t->data, t->data + t->n_bytes);
      w.dense = tmp.dequantized().view(shape);
      return w;
    }
    if (t->dims.size() == 1) {
      w.dense = at::empty({w.in}, at::kFloat);
      dequantize_rows(t->type, t->data, w.dense.data_ptr<float>(), 1, static_cast<size_t>(w.in));
      return w;
    }
    w.blocks = std::make_shared<const std::vector<uint8_t>>(t->data, t->data + t->n_bytes);
    return w;
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
