// llama.cpp's CPU arithmetic for the opt-in numerics mode (see llamacpp_numerics.hpp). Written from
// a reading of ggml-cpu (quants, flash attention, vec helpers); no code is taken from it.
#include "mtk/llm/llamacpp_numerics.hpp"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <c10/util/Half.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "mtk/core/error.hpp"
#include "mtk/llm/model.hpp"

namespace mtk::llm::lcn {

namespace {

inline float f16r(float x) { return static_cast<float>(c10::Half(x)); }

// Round half to even, as the SIMD round-to-nearest and ggml's nearest_int both do.
inline int round_even(float v) { return static_cast<int>(std::nearbyint(v)); }

// One block of 32 to Q8_0 / Q8_1: out[j] = fp16(d) * q[j]. For Q8_1, *corr receives
// fp16(d * sum q) - fp16(d) * sum q: what ggml's block sum adds beyond the dequantised values.
void quant_block_q8(const float* x, float* out, bool q8_1, double* corr) {
  float amax = 0;
  for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(x[j]));
  const float d = amax / 127.f;
  const float id = amax != 0.0f ? 127.f / amax : 0.0f;
  const float dh = f16r(d);
  int sum = 0;
  for (int j = 0; j < 32; ++j) {
    const int q = round_even(x[j] * id);
    sum += q;
    out[j] = dh * static_cast<float>(q);
  }
  if (q8_1 && corr) *corr = static_cast<double>(f16r(d * static_cast<float>(sum))) - static_cast<double>(dh) * sum;
}

// One block of 256 to Q8_K: d = 1/iscale in float32, q = min(127, round(iscale * x)).
void quant_block_q8k(const float* x, float* out) {
  float amax = 0, max = 0;
  for (int j = 0; j < 256; ++j) {
    const float ax = std::fabs(x[j]);
    if (ax > amax) {
      amax = ax;
      max = x[j];
    }
  }
  if (amax == 0.0f) {
    std::fill(out, out + 256, 0.0f);
    return;
  }
  const float iscale = -127.f / max;
  const float d = 1 / iscale;
  for (int j = 0; j < 256; ++j) out[j] = d * static_cast<float>(std::min(127, round_even(iscale * x[j])));
}

// ggml_vec_dot_f16 on AVX2: 4 accumulators of 8 lanes, fused multiply-adds, then ggml's reduction.
float dot_f16_lanes(const float* x, const float* y, int64_t n) {
  float acc[4][8] = {};
  const int64_t np = n - n % 32;
  for (int64_t i = 0; i < np; i += 32)
    for (int j = 0; j < 4; ++j)
      for (int l = 0; l < 8; ++l) acc[j][l] = std::fma(x[i + 8 * j + l], y[i + 8 * j + l], acc[j][l]);
  float a[8];
  for (int l = 0; l < 8; ++l) {
    const float a0 = acc[0][l] + acc[2][l], a1 = acc[1][l] + acc[3][l];
    a[l] = a0 + a1;
  }
  float t0[4];
  for (int l = 0; l < 4; ++l) t0[l] = a[l] + a[l + 4];
  double sum = static_cast<float>((t0[0] + t0[1]) + (t0[2] + t0[3]));
  for (int64_t i = np; i < n; ++i) sum += static_cast<double>(x[i]) * y[i];
  return static_cast<float>(sum);
}

// The sum ggml_vec_soft_max_f32 returns for 8 lanes (AVX2 horizontal add order).
inline float hsum8(const float* v) {
  float t[4];
  for (int l = 0; l < 4; ++l) t[l] = v[l + 4] + v[l];
  const float u0 = t[0] + t[2], u1 = t[1] + t[3];
  return u0 + u1;
}

}  // namespace

GgmlType vec_dot_type(GgmlType t) {
  switch (t) {
    case GgmlType::Q4_0:
    case GgmlType::Q5_0:
    case GgmlType::Q8_0: return GgmlType::Q8_0;
    case GgmlType::Q4_1:
    case GgmlType::Q5_1: return GgmlType::Q8_1;
    case GgmlType::Q2_K:
    case GgmlType::Q3_K:
    case GgmlType::Q4_K:
    case GgmlType::Q5_K:
    case GgmlType::Q6_K: return GgmlType::Q8_K;
    case GgmlType::F16: return GgmlType::F16;
    case GgmlType::BF16: return GgmlType::BF16;
    default: return GgmlType::F32;
  }
}

namespace {

// Quantises rows of x (contiguous float32) in place into `out`; corr (rows x in/32) for Q8_1.
void quantize_rows(GgmlType vt, const float* x, float* out, int64_t rows, int64_t in, double* corr) {
  const int64_t bs = vt == GgmlType::Q8_K ? 256 : 32;
  if (in % bs != 0)
    throw Error("llama.cpp numerics: row length " + std::to_string(in) + " is not a multiple of " + std::to_string(bs),
                "the weight's type does not fit its row length");
  const int64_t nb = in / bs;
  at::parallel_for(0, rows, 1, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r)
      for (int64_t b = 0; b < nb; ++b) {
        const float* xb = x + r * in + b * bs;
        float* ob = out + r * in + b * bs;
        if (vt == GgmlType::Q8_K) quant_block_q8k(xb, ob);
        else quant_block_q8(xb, ob, vt == GgmlType::Q8_1, corr ? corr + r * nb + b : nullptr);
      }
  });
}

}  // namespace

at::Tensor quantize_activations(GgmlType t, const at::Tensor& x) {
  const GgmlType vt = vec_dot_type(t);
  if (vt == GgmlType::F32) return x;
  if (vt == GgmlType::F16) return round_f16(x);
  if (vt == GgmlType::BF16) return x.to(at::kBFloat16).to(x.scalar_type());
  const at::Tensor xc = x.to(at::kFloat).contiguous();
  at::Tensor out = at::empty_like(xc);
  const int64_t in = xc.size(-1);
  quantize_rows(vt, xc.data_ptr<float>(), out.data_ptr<float>(), xc.numel() / in, in, nullptr);
  return out;
}

at::Tensor linear(const Weight& w, const at::Tensor& x, const at::Tensor& bias) {
  const GgmlType vt = vec_dot_type(w.type);
  if (vt == GgmlType::F32 || !x.device().is_cpu() || x.scalar_type() != at::kFloat) return w.linear(x, bias);
  if (vt != GgmlType::Q8_0 && vt != GgmlType::Q8_1 && vt != GgmlType::Q8_K)
    return w.linear(quantize_activations(w.type, x), bias);
  const at::Tensor xc = x.contiguous();
  const int64_t in = w.in, rows = xc.numel() / in, nb = in / 32;
  at::Tensor xq = at::empty_like(xc);
  const bool with_min = vt == GgmlType::Q8_1 && w.blocks != nullptr;
  std::vector<double> corr(with_min ? static_cast<size_t>(rows * nb) : 0);
  quantize_rows(vt, xc.data_ptr<float>(), xq.data_ptr<float>(), rows, in, with_min ? corr.data() : nullptr);
  at::Tensor y = w.linear(xq, bias);
  if (with_min) {
    // ggml adds m * s with s = fp16(d * sum q); the product above added m * fp16(d) * sum q.
    const size_t bb = w.type == GgmlType::Q4_1 ? 20 : 24;
    at::Tensor m = at::empty({w.out, nb}, at::kDouble);
    double* mp = m.data_ptr<double>();
    const uint8_t* blocks = w.blocks->data();
    for (int64_t o = 0; o < w.out; ++o)
      for (int64_t b = 0; b < nb; ++b) {
        uint16_t h;
        std::memcpy(&h, blocks + static_cast<size_t>(o * nb + b) * bb + 2, 2);
        mp[o * nb + b] = fp16_to_fp32(h);
      }
    const at::Tensor c = at::from_blob(corr.data(), {rows, nb}, at::kDouble);
    y = y + at::mm(c, m.t()).to(at::kFloat).view(y.sizes());
  }
  return y;
}

at::Tensor round_f16(const at::Tensor& x) { return x.to(at::kHalf).to(x.scalar_type()); }

at::Tensor gelu_f16_table(const at::Tensor& x) {
  const at::Tensor xc = x.to(at::kFloat).contiguous();
  at::Tensor out = at::empty_like(xc);
  const float* p = xc.data_ptr<float>();
  float* o = out.data_ptr<float>();
  constexpr float kSqrt2OverPi = 0.79788456080286535587989211986876f, kCoefA = 0.044715f;
  at::parallel_for(0, xc.numel(), 4096, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      const float v = p[i];
      if (v <= -10.0f) o[i] = 0.0f;
      else if (v >= 10.0f) o[i] = v;
      else {
        const float h = f16r(v);
        o[i] = f16r(0.5f * h * (1.0f + std::tanh(kSqrt2OverPi * h * (1.0f + kCoefA * h * h))));
      }
    }
  });
  return out.to(x.scalar_type());
}

at::Tensor attention(const at::Tensor& q_in, const at::Tensor& k_in, const at::Tensor& v_in,
                     const std::vector<int64_t>& pad, int64_t start, int64_t window, float scale, float softcap) {
  const at::Tensor q = q_in.to(at::kFloat).contiguous(), k = k_in.to(at::kFloat).contiguous(),
                   v = v_in.to(at::kFloat).contiguous();
  const int64_t B = q.size(0), n = q.size(1), nh = q.size(2), hd = q.size(3);
  const int64_t nkv = k.size(1), T = k.size(2), G = nh / nkv;
  at::Tensor out = at::zeros({B, n, nh * hd}, at::kFloat);
  const float* qp = q.data_ptr<float>();
  const float* kp = k.data_ptr<float>();
  const float* vp = v.data_ptr<float>();
  float* op = out.data_ptr<float>();
  if (softcap > 0) scale /= softcap;
  constexpr int64_t kTile = 64;  // ggml's GGML_FA_TILE_Q and GGML_FA_TILE_KV

  at::parallel_for(0, B * nh, 1, [&](int64_t w0, int64_t w1) {
    std::vector<float> qh(static_cast<size_t>(hd)), acc(static_cast<size_t>(hd)), kq(kTile);
    for (int64_t wi = w0; wi < w1; ++wi) {
      const int64_t b = wi / nh, h = wi % nh, g = h / G;
      const int64_t p0 = pad[static_cast<size_t>(b)];
      // Tokens of this sequence in this call: llama.cpp would have evaluated them as one batch.
      const int64_t real = start + n - std::max(start, p0);
      const bool tiled = real >= kTile;
      const float* K = kp + (b * nkv + g) * T * hd;
      const float* V = vp + (b * nkv + g) * T * hd;
      for (int64_t i = 0; i < n; ++i) {
        const int64_t slot = start + i;
        if (slot < p0) continue;
        const int64_t lo = window > 0 ? std::max(p0, slot - window + 1) : p0;
        const float* qr = qp + ((b * n + i) * nh + h) * hd;
        float* dst = op + (b * n + i) * nh * hd + h * hd;
        float M = -std::numeric_limits<float>::infinity(), S = 0.0f;
        std::fill(acc.begin(), acc.end(), 0.0f);
        if (!tiled) {
          for (int64_t d = 0; d < hd; ++d) qh[static_cast<size_t>(d)] = f16r(qr[d]);
          for (int64_t t = lo; t <= slot; ++t) {
            float s = dot_f16_lanes(qh.data(), K + t * hd, hd) * scale;
            if (softcap > 0) s = softcap * std::tanh(s);
            const float Mold = M;
            float ms = 1.0f, vs = 1.0f;
            if (s > M) {
              M = s;
              ms = std::exp(Mold - M);
              for (auto& a : acc) a = f16r(a * ms);
            } else {
              vs = std::exp(s - M);
            }
            const float* vr = V + t * hd;
            for (int64_t d = 0; d < hd; ++d)
              acc[static_cast<size_t>(d)] = f16r(std::fma(vr[d], vs, acc[static_cast<size_t>(d)]));
            S = S * ms + vs;
          }
        } else {
          for (int64_t j0 = 0; p0 + j0 <= slot; j0 += kTile) {
            float tmax = -std::numeric_limits<float>::infinity();
            for (int64_t tk = 0; tk < kTile; ++tk) {
              const int64_t t = p0 + j0 + tk;
              float s = -std::numeric_limits<float>::infinity();
              if (t >= lo && t <= slot) {
                const float* kr = K + t * hd;
                float dot = 0.0f;
                for (int64_t d = 0; d < hd; ++d) dot = std::fma(qr[d], kr[d], dot);
                s = dot * scale;
                if (softcap > 0) s = std::tanh(s) * softcap;
              }
              kq[static_cast<size_t>(tk)] = s;
              tmax = std::max(tmax, s);
            }
            if (tmax == -std::numeric_limits<float>::infinity()) continue;
            const float Mnew = std::max(M, tmax);
            if (Mnew > M) {
              const float ms = std::exp(M - Mnew);
              for (auto& a : acc) a *= ms;
              S *= ms;
            }
            M = Mnew;
            double sum = 0;
            for (int64_t c = 0; c < kTile; c += 8) {
              for (int64_t l = 0; l < 8; ++l) kq[static_cast<size_t>(c + l)] = std::exp(kq[static_cast<size_t>(c + l)] - M);
              sum += hsum8(kq.data() + c);
            }
            S = static_cast<float>(S + sum);
            for (int64_t tk = 0; tk < kTile; ++tk) {
              const int64_t t = p0 + j0 + tk;
              if (t < lo || t > slot) continue;  // weight 0 (and the slot may hold no value yet)
              const float p = kq[static_cast<size_t>(tk)];
              const float* vr = V + t * hd;
              for (int64_t d = 0; d < hd; ++d) acc[static_cast<size_t>(d)] = std::fma(vr[d], p, acc[static_cast<size_t>(d)]);
            }
          }
        }
        const float inv = S == 0.0f ? 0.0f : 1.0f / S;
        for (int64_t d = 0; d < hd; ++d) dst[d] = acc[static_cast<size_t>(d)] * inv;
      }
    }
  });
  return out;
}

}  // namespace mtk::llm::lcn
