// The llama.cpp numerics mode's forward pass (llamacpp_numerics.hpp): the decoder of model.cpp with
// llama.cpp's CPU arithmetic at every step (its products, RMS norm, RoPE, f16 KV cache, flash
// attention, SwiGLU and GELU table), the rows of each product laid out as llama.cpp evaluates the
// pass, and the debugging taps under llama.cpp's tensor names. Model::layer stays the float path.
#include <ATen/ATen.h>

#include <algorithm>
#include <string>
#include <vector>

#include "mtk/llm/llamacpp_numerics.hpp"
#include "mtk/llm/lora.hpp"
#include "mtk/llm/lora_torch.hpp"
#include "mtk/llm/model.hpp"

namespace mtk::llm::lcn {

namespace {

class LlamaCppForward final : public ForwardPath {
 public:
  at::Tensor forward(const Model& m, const at::Tensor& tokens, KvCache* cache, bool last_only) const override {
    const ModelConfig& c = m.config();
    const PassInputs p = m.begin_pass(tokens, cache);
    Tables t;
    std::tie(t.cos, t.sin) = rope_tables(p.positions, static_cast<float>(c.rope_base), c.rope_dim, c.rope_freq_factors,
                                         static_cast<float>(1.0 / c.rope_linear_factor));
    if (std::any_of(c.layer_is_local.begin(), c.layer_is_local.end(), [](bool l) { return l; }))
      std::tie(t.cos_local, t.sin_local) =
          rope_tables(p.positions, static_cast<float>(c.rope_base_local), c.rope_dim, {}, 1.0f);
    // The padding slots of this pass per sequence: llama.cpp evaluates each sequence as one ubatch.
    RowLayout layout{p.n, std::vector<int64_t>(static_cast<size_t>(p.batch), 0)};
    if (cache)
      for (size_t b = 0; b < layout.pad.size(); ++b) layout.pad[b] = std::clamp<int64_t>(cache->pad[b] - p.start, 0, p.n);

    at::Tensor x = m.embed(p.tokens);
    for (int64_t i = 0; i < c.n_layers; ++i) x = layer(m, i, x, t, layout, cache, p.start);
    if (cache) cache->length = p.start + p.n;
    if (last_only) x = x.narrow(1, x.size(1) - 1, 1);
    // The output head's rows are not laid out as a ubatch (llama.cpp computes only the rows it outputs).
    return m.finish_logits(linear(m.weights().output, rms_norm(x, m.weights().output_norm, c.rms_eps)));
  }

 private:
  struct Tables {
    at::Tensor cos, sin, cos_local, sin_local;
  };

  static void tap(const char* name, int64_t i, const at::Tensor& t) {
    if (debug_tap()) debug_tap()(std::string(name) + "-" + std::to_string(i), t);
  }

  static at::Tensor layer(const Model& m, int64_t i, const at::Tensor& x, const Tables& t, const RowLayout& layout,
                          KvCache* cache, int64_t start) {
    const ModelConfig& c = m.config();
    const LayerWeights& L = m.weights().layers[static_cast<size_t>(i)];
    const bool local = c.layer_is_local[static_cast<size_t>(i)];
    const int64_t B = x.size(0), n = x.size(1), nh = c.n_heads, nkv = c.n_kv_heads, hd = c.head_dim;
    const LoraSet* lora = m.adapter();
    const auto lin = [&](const Weight& w, const at::Tensor& in, const at::Tensor& bias, LoraSlot slot) {
      at::Tensor y = linear(w, in, bias, layout);
      return lora ? lora_apply(*lora, i, slot, in, y) : y;
    };
    at::Tensor h = rms_norm(x, L.attn_norm, c.rms_eps);
    tap("attn_norm", i, h);
    at::Tensor q = lin(L.q, h, L.q_bias, LoraSlot::q).view({B, n, nh, hd});
    at::Tensor k = lin(L.k, h, L.k_bias, LoraSlot::k).view({B, n, nkv, hd});
    at::Tensor v = lin(L.v, h, L.v_bias, LoraSlot::v).view({B, n, nkv, hd});
    tap("Qcur", i, q);
    tap("Kcur", i, k);
    tap("Vcur", i, v);
    if (c.qk_norm) {
      q = rms_norm(q, L.q_norm, c.rms_eps);
      k = rms_norm(k, L.k_norm, c.rms_eps);
    }
    q = rope(q, local ? t.cos_local : t.cos, local ? t.sin_local : t.sin, c.rope_dim, c.rope_neox);
    k = rope(k, local ? t.cos_local : t.cos, local ? t.sin_local : t.sin, c.rope_dim, c.rope_neox);
    tap("Qrope", i, q);
    tap("Krope", i, k);
    // llama.cpp's f16 KV cache.
    k = round_f16(k.transpose(1, 2));  // [B, nkv, n, hd]
    v = round_f16(v.transpose(1, 2));
    at::Tensor K = k, V = v;
    if (cache) std::tie(K, V) = cache->append(static_cast<size_t>(i), k, v, start);
    const std::vector<int64_t> pads = cache ? cache->pad : std::vector<int64_t>(static_cast<size_t>(B), 0);
    // Gemma 3 in llama.cpp scales the float32 queries before its f16 attention (kq scale 1): not the
    // same bits where a scaled query falls among the f16 subnormals.
    float scale = static_cast<float>(c.scale());
    if (c.arch == "gemma3") {
      q = q * scale;
      scale = 1.0f;
    }
    const at::Tensor a =
        attention(q, K, V, pads, start, local ? c.sliding_window : 0, scale, static_cast<float>(c.attn_logit_softcap));
    tap("kqv_out", i, a);
    at::Tensor o = lin(L.o, a, L.o_bias, LoraSlot::o);
    tap("attn_out", i, o);
    if (c.post_norms) o = rms_norm(o, L.post_attn_norm, c.rms_eps);
    const at::Tensor xr = x + o;

    tap("ffn_inp", i, xr);
    h = rms_norm(xr, L.ffn_norm, c.rms_eps);
    tap("ffn_norm", i, h);
    at::Tensor g = lin(L.gate, h, {}, LoraSlot::gate);
    tap("ffn_gate", i, g);
    const at::Tensor up = lin(L.up, h, {}, LoraSlot::up);
    tap("ffn_up", i, up);
    if (c.act == Activation::SiLU) {
      g = swiglu(g, up);
    } else {
      g = gelu_f16_table(g);
      g.mul_(up);
    }
    tap("ffn_swiglu", i, g);
    at::Tensor f = lin(L.down, g, {}, LoraSlot::down);
    tap("ffn_out", i, f);
    if (c.post_norms) f = rms_norm(f, L.post_ffw_norm, c.rms_eps);
    return xr + f;
  }
};

}  // namespace

const ForwardPath& forward_path() {
  static const LlamaCppForward path;
  return path;
}

}  // namespace mtk::llm::lcn
