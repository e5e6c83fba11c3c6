// llama.cpp's CPU arithmetic for the opt-in numerics mode (see llamacpp_numerics.hpp). Written from
// a reading of ggml-cpu (quants, flash attention, vec helpers); no code is taken from it.
#include "mtk/llm/llamacpp_numerics.hpp"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <c10/util/Half.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string>
#if defined(__x86_64__)
#include <cpuid.h>
#include <immintrin.h>
#endif

#include "mtk/core/error.hpp"
#include "mtk/llm/model.hpp"

namespace mtk::llm::lcn {

bool follows_avx2_build() {
  static const bool avx2 = [] {
    const char* e = std::getenv("MTK_LLAMACPP_ISA");
    const std::string v = e ? e : "";
    if (v.empty() || v == "native") return false;
    if (v == "avx2") return true;
    throw Error("MTK_LLAMACPP_ISA=" + v + " is not a known llama.cpp build", "set it to native or avx2");
  }();
  return avx2;
}

namespace {

inline float f16r(float x) { return static_cast<float>(c10::Half(x)); }

bool cpu_has_avx512() {
#if defined(__x86_64__)
  static const bool has = !follows_avx2_build() && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq");
  return has;
#else
  return false;
#endif
}

// AVX512-FP16 (Sapphire Rapids and later): a llama.cpp built for such a CPU does its f16 vector
// arithmetic (ggml_vec_mad_f16, ggml_vec_scale_f16) in native f16, 128 values per step.
bool cpu_has_avx512fp16() {
#if defined(__x86_64__)
  static const bool has = [] {
    unsigned a = 0, b = 0, c = 0, d = 0;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return false;
    return cpu_has_avx512() && ((d >> 23) & 1u) != 0;
  }();
  return has;
#else
  return false;
#endif
}

// x rounded once to the nearest f16 value (ties to even), from double: what a fused f16 operation
// gives when x is its exact result.
inline float f16_round_once(double x) {
  const double a = std::fabs(x);
  if (a >= 65520.0) return std::copysign(std::numeric_limits<float>::infinity(), static_cast<float>(x));
  if (a == 0.0) return static_cast<float>(x);
  int e = 0;
  std::frexp(a, &e);                        // a in [2^(e-1), 2^e)
  const int unit = std::max(e - 11, -24);   // 11 significant bits; subnormals in steps of 2^-24
  const double r = std::ldexp(std::nearbyint(std::ldexp(a, -unit)), unit);
  return static_cast<float>(std::copysign(r, x));
}

// Round half to even, as the SIMD round-to-nearest and ggml's nearest_int both do.
inline int round_even(float v) { return static_cast<int>(std::nearbyint(v)); }

// One block of 32 to ggml's Q8_0 / Q8_1 integers: q[j] = round(x[j] * 127 / amax), *d = fp16(amax /
// 127) and *s = fp16(d * sum q) (the block sum Q8_1 carries).
void quant_block_q8_int(const float* x, int8_t* q, float* d, float* s) {
  float amax = 0;
  for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(x[j]));
  const float dd = amax / 127.f;
  const float id = amax != 0.0f ? 127.f / amax : 0.0f;
  int sum = 0;
  for (int j = 0; j < 32; ++j) {
    q[j] = static_cast<int8_t>(round_even(x[j] * id));
    sum += q[j];
  }
  *d = f16r(dd);
  *s = f16r(dd * static_cast<float>(sum));
}

// The same block dequantised: out[j] = fp16(d) * q[j]. For Q8_1, *corr receives
// fp16(d * sum q) - fp16(d) * sum q: what ggml's block sum adds beyond the dequantised values.
void quant_block_q8(const float* x, float* out, bool q8_1, double* corr) {
  int8_t q[32];
  float d = 0, s = 0;
  quant_block_q8_int(x, q, &d, &s);
  int sum = 0;
  for (int j = 0; j < 32; ++j) {
    sum += q[j];
    out[j] = d * static_cast<float>(q[j]);
  }
  if (q8_1 && corr) *corr = static_cast<double>(s) - static_cast<double>(d) * sum;
}

// One block of 256 to ggml's Q8_K integers (quantize_row_q8_K): iscale = -127 / (the value of
// largest magnitude, the first one on ties), q = min(127, round(iscale * x)), *d = 1/iscale in
// float32; an all-zero block gives q = 0, d = 0.
void quant_block_q8k_int(const float* x, int8_t* q, float* d) {
  float amax = 0, max = 0;
  for (int j = 0; j < 256; ++j) {
    const float ax = std::fabs(x[j]);
    if (ax > amax) {
      amax = ax;
      max = x[j];
    }
  }
  if (amax == 0.0f) {
    std::fill(q, q + 256, int8_t{0});
    *d = 0.0f;
    return;
  }
  const float iscale = -127.f / max;
  for (int j = 0; j < 256; ++j) q[j] = static_cast<int8_t>(std::min(127, round_even(iscale * x[j])));
  *d = 1 / iscale;
}

// The same block dequantised: out[j] = d * q[j].
void quant_block_q8k(const float* x, float* out) {
  int8_t q[256];
  float d = 0;
  quant_block_q8k_int(x, q, &d);
  for (int j = 0; j < 256; ++j) out[j] = d * static_cast<float>(q[j]);
}

// The sum ggml_vec_soft_max_f32 returns for 8 lanes (AVX2 horizontal add order).
inline float hsum8(const float* v) {
  float t[4];
  for (int l = 0; l < 4; ++l) t[l] = v[l + 4] + v[l];
  const float u0 = t[0] + t[2], u1 = t[1] + t[3];
  return u0 + u1;
}

// GCC's _mm512_reduce_add_ps: halves, then quarters, then lanes 0+2 and 1+3, then their sum.
inline float hsum16(const float* v) {
  float t3[8], t6[4];
  for (int l = 0; l < 8; ++l) t3[l] = v[l + 8] + v[l];
  for (int l = 0; l < 4; ++l) t6[l] = t3[l + 4] + t3[l];
  return (t6[0] + t6[2]) + (t6[1] + t6[3]);
}

// ggml_vec_dot_f16 with L-lane vectors (8: AVX2, 16: AVX-512): 4 accumulators of L lanes, fused
// multiply-adds, the accumulators summed pairwise (0+2, 1+3, then 0+1), then the lanes reduced as
// ggml's AVX2 macro does ((0+4)+(1+5)) + ((2+6)+(3+7)) or as GCC's _mm512_reduce_add_ps does
// (halves, quarters, then lanes 0+2, 1+3 and their sum); the tail in double.
template <int L>
float dot_f16_lanes(const float* x, const float* y, int64_t n) {
  float acc[4][L] = {};
  const int64_t np = n - n % (4 * L);
  for (int64_t i = 0; i < np; i += 4 * L)
    for (int j = 0; j < 4; ++j)
      for (int l = 0; l < L; ++l) acc[j][l] = std::fma(x[i + L * j + l], y[i + L * j + l], acc[j][l]);
  float a[L];
  for (int l = 0; l < L; ++l) {
    const float a0 = acc[0][l] + acc[2][l], a1 = acc[1][l] + acc[3][l];
    a[l] = a0 + a1;
  }
  double sum;
  if constexpr (L == 16) {
    sum = hsum16(a);
  } else {
    float t0[4];
    for (int l = 0; l < 4; ++l) t0[l] = a[l] + a[l + 4];
    sum = static_cast<float>((t0[0] + t0[1]) + (t0[2] + t0[3]));
  }
  for (int64_t i = np; i < n; ++i) sum += static_cast<double>(x[i] * y[i]);
  return static_cast<float>(sum);
}

}  // namespace

bool exact_supported(GgmlType t) {
  return t == GgmlType::Q4_1 || t == GgmlType::Q5_0 || t == GgmlType::Q8_0 || t == GgmlType::Q4_K ||
         t == GgmlType::Q6_K;
}

Tap& debug_tap() {
  static Tap tap;
  return tap;
}

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

namespace {

// The float32 result of a product of x [..., in] with a matrix of `out` rows: [..., out].
at::Tensor product_output(const at::Tensor& x, int64_t out) {
  auto shape = x.sizes().vec();
  shape.back() = out;
  return at::empty(shape, at::kFloat);
}

// One output of a Q4_1 x Q8_1 or Q8_0 x Q8_0 product (the weight row unpacked to int8 with its
// scales d and, for Q4_1, minima m): see exact_linear. The same body twice, the second compiled for
// FMA hardware (the fused multiply-adds are explicit, so both give the same bits).
#define MTK_LCN_BLOCK_DOT_BODY                                                                        \
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};                                                           \
  float summs = 0;                                                                                   \
  for (int64_t b = 0; b < nb; ++b) {                                                                 \
    const int8_t* w = wq + b * 32;                                                                   \
    const int8_t* q = xq + b * 32;                                                                   \
    const float dd = dw[b] * xd[b];                                                                  \
    for (int l = 0; l < 8; ++l) {                                                                    \
      const int s = w[4 * l] * q[4 * l] + w[4 * l + 1] * q[4 * l + 1] + w[4 * l + 2] * q[4 * l + 2] +  \
                    w[4 * l + 3] * q[4 * l + 3];                                                     \
      acc[l] = __builtin_fmaf(dd, static_cast<float>(s), acc[l]);                                    \
    }                                                                                                \
    if (mw) summs = __builtin_fmaf(mw[b], xs[b], summs);                                             \
  }                                                                                                  \
  return hsum8(acc) + summs;

float block_dot_rows(const int8_t* wq, const float* dw, const float* mw, const int8_t* xq, const float* xd,
                     const float* xs, int64_t nb) {
  MTK_LCN_BLOCK_DOT_BODY
}
#if defined(__x86_64__)
// AVX2: ggml's own instruction sequence for these blocks (unsigned x signed byte pairs, then pairs of
// pairs: 8 lanes of 4 consecutive products; Q8_0 weights through the sign trick).
__attribute__((target("avx2,fma"))) float block_dot_rows_fma(const int8_t* wq, const float* dw, const float* mw,
                                                             const int8_t* xq, const float* xd, const float* xs,
                                                             int64_t nb) {
  __m256 acc = _mm256_setzero_ps();
  const __m256i ones = _mm256_set1_epi16(1);
  float summs = 0;
  for (int64_t b = 0; b < nb; ++b) {
    const __m256i w = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(wq + b * 32));
    const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xq + b * 32));
    const __m256i pairs = mw ? _mm256_maddubs_epi16(w, q) : _mm256_maddubs_epi16(_mm256_sign_epi8(w, w), _mm256_sign_epi8(q, w));
    const __m256 lanes = _mm256_cvtepi32_ps(_mm256_madd_epi16(ones, pairs));
    acc = _mm256_fmadd_ps(_mm256_set1_ps(dw[b] * xd[b]), lanes, acc);
    if (mw) summs = __builtin_fmaf(mw[b], xs[b], summs);
  }
  alignas(32) float a[8];
  _mm256_store_ps(a, acc);
  return hsum8(a) + summs;
}
bool fma_cpu() {
  static const bool has = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return has;
}
#else
float block_dot_rows_fma(const int8_t* wq, const float* dw, const float* mw, const int8_t* xq, const float* xd,
                         const float* xs, int64_t nb) {
  MTK_LCN_BLOCK_DOT_BODY
}
bool fma_cpu() { return false; }
#endif
#undef MTK_LCN_BLOCK_DOT_BODY

// ggml's block dot products for Q4_1 x Q8_1 and Q8_0 x Q8_0 (vec_dot and llamafile's tinyBLAS on x86 agree):
// per block 8 lanes of 4 consecutive integer products, each lane accumulated as fma(d_w * d_x, lane, acc);
// the 8 lanes summed in the AVX horizontal order; for Q4_1 the minimum's term m * s summed on the side.
// Exact to the last bit when the activations are quantised exactly as ggml quantises them.
at::Tensor exact_linear(const Weight& w, const at::Tensor& x) {
  const int64_t in = w.in, out = w.out, nb = in / 32;
  const at::Tensor xc = x.contiguous();
  const int64_t rows = xc.numel() / in;
  const bool q41 = w.type == GgmlType::Q4_1, q50 = w.type == GgmlType::Q5_0;
  const size_t bb = q41 ? 20 : q50 ? 22 : 34;
  // Activations as ggml's Q8_1 / Q8_0 blocks.
  std::vector<int8_t> xq(static_cast<size_t>(rows * in));
  std::vector<float> xd(static_cast<size_t>(rows * nb)), xs(static_cast<size_t>(rows * nb));
  const float* xp = xc.data_ptr<float>();
  at::parallel_for(0, rows * nb, 16, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i)
      quant_block_q8_int(xp + i * 32, xq.data() + i * 32, &xd[static_cast<size_t>(i)], &xs[static_cast<size_t>(i)]);
  });
  at::Tensor y = product_output(x, out);
  float* yp = y.data_ptr<float>();
  const uint8_t* wb = w.blocks->data();
  at::parallel_for(0, out, 8, [&](int64_t o0, int64_t o1) {
    std::vector<int8_t> wq(static_cast<size_t>(in));
    std::vector<float> dw(static_cast<size_t>(nb)), mw(static_cast<size_t>(nb));
    for (int64_t o = o0; o < o1; ++o) {
      // The weight row unpacked once for all activation rows.
      for (int64_t b = 0; b < nb; ++b) {
        const uint8_t* blk = wb + static_cast<size_t>(o * nb + b) * bb;
        uint16_t h;
        std::memcpy(&h, blk, 2);
        dw[static_cast<size_t>(b)] = fp16_to_fp32(h);
        int8_t* w = wq.data() + b * 32;
        if (q41) {
          std::memcpy(&h, blk + 2, 2);
          mw[static_cast<size_t>(b)] = fp16_to_fp32(h);
          for (int j = 0; j < 16; ++j) {
            w[j] = static_cast<int8_t>(blk[4 + j] & 15);
            w[j + 16] = static_cast<int8_t>(blk[4 + j] >> 4);
          }
        } else if (q50) {  // d, the 32 fifth bits, 16 bytes of nibbles: (nibble | bit << 4) - 16
          uint32_t qh;
          std::memcpy(&qh, blk + 2, 4);
          for (int j = 0; j < 16; ++j) {
            w[j] = static_cast<int8_t>(((blk[6 + j] & 15) | (((qh >> j) & 1) << 4)) - 16);
            w[j + 16] = static_cast<int8_t>(((blk[6 + j] >> 4) | (((qh >> (j + 16)) & 1) << 4)) - 16);
          }
        } else {
          std::memcpy(w, blk + 2, 32);
        }
      }
      for (int64_t r = 0; r < rows; ++r)
        yp[r * out + o] = (fma_cpu() ? block_dot_rows_fma : block_dot_rows)(
            wq.data(), dw.data(), q41 ? mw.data() : nullptr, xq.data() + r * in, xd.data() + r * nb,
            xs.data() + r * nb, nb);
    }
  });
  return y;
}

// ---- K-quants (Q4_K, Q6_K) x Q8_K -----------------------------------------------------------------

// Activations as ggml's Q8_K blocks of 256 (quant_block_q8k_int) with their sums of 16.
struct Q8KRows {
  std::vector<int8_t> q;
  std::vector<float> d;
  std::vector<int32_t> bs16;
};

Q8KRows quantize_q8k(const float* x, int64_t rows, int64_t in) {
  const int64_t nb = in / 256;
  Q8KRows a;
  a.q.assign(static_cast<size_t>(rows * in), 0);
  a.d.assign(static_cast<size_t>(rows * nb), 0.0f);
  a.bs16.assign(static_cast<size_t>(rows * in / 16), 0);
  at::parallel_for(0, rows * nb, 4, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      int8_t* q = a.q.data() + i * 256;
      quant_block_q8k_int(x + i * 256, q, &a.d[static_cast<size_t>(i)]);
      for (int j = 0; j < 16; ++j) {
        int s = 0;
        for (int t = 0; t < 16; ++t) s += q[16 * j + t];
        a.bs16[static_cast<size_t>(i * 16 + j)] = s;
      }
    }
  });
  return a;
}

// Where each row of the current forward pass sits in llama.cpp's evaluation: its sequence's ubatch
// length and its index in it (RowLayout; {1, 0} for every row when the layout does not describe
// these rows). ggml picks kernels by the ubatch's row count.
std::vector<std::pair<int64_t, int64_t>> ubatch_rows(int64_t rows, const RowLayout& L) {
  std::vector<std::pair<int64_t, int64_t>> u(static_cast<size_t>(rows), {1, 0});
  if (L.n <= 0 || static_cast<int64_t>(L.pad.size()) * L.n != rows) return u;
  for (size_t b = 0; b < L.pad.size(); ++b)
    for (int64_t t = L.pad[b]; t < L.n; ++t) u[b * static_cast<size_t>(L.n) + static_cast<size_t>(t)] = {L.n - L.pad[b], t - L.pad[b]};
  return u;
}

// Q4_K (repacked to ggml's q4_K_8x8 on AVX2 CPUs) and Q6_K (ggml_vec_dot_q6_K_q8_K, AVX2 lanes)
// against Q8_K activations. All integer sums are exact, so only the float steps are ordered as ggml
// orders them:
//  * Q4_K, GEMV: per super-block acc = fma(float(sum_j sc_j * dot_j), d * d8, acc) and
//    accm = fma(float(sum_j m_j * bsum_j), dmin * d8, accm); y = acc - accm.
//    GEMM: the same per pair of sub-blocks (j = 2s, 2s + 1) instead of per super-block.
//    The repacked GEMM takes a ubatch's first len - len % 4 rows (len > 3), the GEMV the rest.
//  * Q6_K, ubatches of 8 rows or more (ggml's tiled K-quant matmul, AVX512-VNNI epilogue):
//    acc = fma(float(sum) * d, d8, acc) per super-block.
//    Fewer rows (ggml_vec_dot_q6_K_q8_K): 8 lanes (bytes 4l..4l+3 of each 32-value chunk, with the
//    chunk's first or second scale), minus 32 * (scale-weighted sums 2l, 2l+1 of 16 activations),
//    acc_l = fma(d8 * d, float(lane), acc_l); the 8 lanes summed in the AVX horizontal order.
at::Tensor exact_linear_k(const Weight& w, const at::Tensor& x, const RowLayout& layout) {
  const int64_t in = w.in, out = w.out, nb = in / 256;
  const at::Tensor xc = x.contiguous();
  const int64_t rows = xc.numel() / in;
  const bool q4k = w.type == GgmlType::Q4_K;
  const size_t bb = q4k ? 144 : 210;
  const Q8KRows a = quantize_q8k(xc.data_ptr<float>(), rows, in);
  const std::vector<std::pair<int64_t, int64_t>> ub = ubatch_rows(rows, layout);
  at::Tensor y = product_output(x, out);
  float* yp = y.data_ptr<float>();
  const uint8_t* wb = w.blocks->data();
  at::parallel_for(0, out, 8, [&](int64_t o0, int64_t o1) {
    std::vector<uint8_t> wq(static_cast<size_t>(in));
    std::vector<int> sc(static_cast<size_t>(nb * 16)), mn(static_cast<size_t>(nb * 8));
    std::vector<float> d(static_cast<size_t>(nb)), dmin(static_cast<size_t>(nb));
    for (int64_t o = o0; o < o1; ++o) {
      for (int64_t b = 0; b < nb; ++b) {  // the weight row unpacked once
        const uint8_t* blk = wb + static_cast<size_t>(o * nb + b) * bb;
        uint8_t* q = wq.data() + b * 256;
        uint16_t h;
        if (q4k) {  // d, dmin, 12 bytes of 6-bit scales and mins, 128 bytes of nibbles
          std::memcpy(&h, blk, 2);
          d[static_cast<size_t>(b)] = fp16_to_fp32(h);
          std::memcpy(&h, blk + 2, 2);
          dmin[static_cast<size_t>(b)] = fp16_to_fp32(h);
          uint8_t s6[8], m6[8];
          unpack_k_scales(blk + 4, s6, m6);
          for (int j = 0; j < 8; ++j) {
            sc[static_cast<size_t>(b * 16 + j)] = s6[j];
            mn[static_cast<size_t>(b * 8 + j)] = m6[j];
          }
          for (int p = 0; p < 4; ++p)
            for (int l = 0; l < 32; ++l) {
              q[64 * p + l] = blk[16 + 32 * p + l] & 15;
              q[64 * p + 32 + l] = blk[16 + 32 * p + l] >> 4;
            }
        } else {  // 128 bytes of low nibbles, 64 of high bit pairs, 16 int8 scales, d
          const uint8_t* ql = blk;
          const uint8_t* qh = blk + 128;
          for (int j = 0; j < 16; ++j) sc[static_cast<size_t>(b * 16 + j)] = static_cast<int8_t>(blk[192 + j]);
          std::memcpy(&h, blk + 208, 2);
          d[static_cast<size_t>(b)] = fp16_to_fp32(h);
          for (int half = 0; half < 2; ++half)
            for (int l = 0; l < 32; ++l) {
              const uint8_t hb = qh[32 * half + l];
              uint8_t* qq = q + 128 * half;
              qq[l] = static_cast<uint8_t>((ql[64 * half + l] & 15) | ((hb & 3) << 4));
              qq[l + 32] = static_cast<uint8_t>((ql[64 * half + l + 32] & 15) | (((hb >> 2) & 3) << 4));
              qq[l + 64] = static_cast<uint8_t>((ql[64 * half + l] >> 4) | (((hb >> 4) & 3) << 4));
              qq[l + 96] = static_cast<uint8_t>((ql[64 * half + l + 32] >> 4) | (((hb >> 6) & 3) << 4));
            }
        }
      }
      for (int64_t r = 0; r < rows; ++r) {
        const int8_t* xq = a.q.data() + r * in;
        const float* xd = a.d.data() + r * nb;
        const int32_t* bs = a.bs16.data() + r * in / 16;
        float result;
        if (q4k) {
          float acc = 0, accm = 0;
          const auto [len, idx] = ub[static_cast<size_t>(r)];
          const bool by_pairs = len > 3 && idx < len - len % 4;
          for (int64_t b = 0; b < nb; ++b) {
            const float dd = d[static_cast<size_t>(b)] * xd[b], dm = dmin[static_cast<size_t>(b)] * xd[b];
            int isum = 0, imin = 0;
            for (int j = 0; j < 8; ++j) {
              int dot = 0;
              for (int t = 0; t < 32; ++t) dot += wq[static_cast<size_t>(b * 256 + 32 * j + t)] * xq[b * 256 + 32 * j + t];
              isum += sc[static_cast<size_t>(b * 16 + j)] * dot;
              imin += mn[static_cast<size_t>(b * 8 + j)] * (bs[b * 16 + 2 * j] + bs[b * 16 + 2 * j + 1]);
              if (by_pairs && j % 2 == 1) {
                acc = __builtin_fmaf(static_cast<float>(isum), dd, acc);
                accm = __builtin_fmaf(static_cast<float>(imin), dm, accm);
                isum = imin = 0;
              }
            }
            if (!by_pairs) {
              acc = __builtin_fmaf(static_cast<float>(isum), dd, acc);
              accm = __builtin_fmaf(static_cast<float>(imin), dm, accm);
            }
          }
          result = acc - accm;
        } else if (ub[static_cast<size_t>(r)].first >= 8) {
          float acc = 0;
          for (int64_t b = 0; b < nb; ++b) {
            const int* s = sc.data() + b * 16;
            int isum = 0;
            for (int j = 0; j < 16; ++j) {
              int dot = 0;
              for (int t = 0; t < 16; ++t) dot += wq[static_cast<size_t>(b * 256 + 16 * j + t)] * xq[b * 256 + 16 * j + t];
              isum += s[j] * (dot - 32 * bs[b * 16 + j]);
            }
            acc = __builtin_fmaf(static_cast<float>(isum) * d[static_cast<size_t>(b)], xd[b], acc);
          }
          result = acc;
        } else {
          float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
          for (int64_t b = 0; b < nb; ++b) {
            const float dd = xd[b] * d[static_cast<size_t>(b)];
            const int* s = sc.data() + b * 16;
            for (int l = 0; l < 8; ++l) {
              int lane = 0;
              for (int c = 0; c < 8; ++c) {
                const int64_t o8 = b * 256 + 32 * c + 4 * l;
                int p = 0;
                for (int t = 0; t < 4; ++t) p += wq[static_cast<size_t>(o8 + t)] * xq[o8 + t];
                lane += s[2 * c + (l >= 4 ? 1 : 0)] * p;
              }
              lane -= 32 * (bs[b * 16 + 2 * l] * s[2 * l] + bs[b * 16 + 2 * l + 1] * s[2 * l + 1]);
              acc[l] = __builtin_fmaf(dd, static_cast<float>(lane), acc[l]);
            }
          }
          result = hsum8(acc);
        }
        yp[r * out + o] = result;
      }
    }
  });
  return y;
}

}  // namespace

at::Tensor rms_norm(const at::Tensor& x_in, const at::Tensor& w_in, double eps) {
  const at::Tensor x = x_in.to(at::kFloat).contiguous(), w = w_in.to(at::kFloat).contiguous();
  const int64_t n = x.size(-1), rows = x.numel() / n;
  at::Tensor y = at::empty_like(x);
  const float* xp = x.data_ptr<float>();
  const float* wp = w.data_ptr<float>();
  float* yp = y.data_ptr<float>();
  const float e = static_cast<float>(eps);
  at::parallel_for(0, rows, 1, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const float* xr = xp + r * n;
      double sum = 0.0;
      for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(xr[i] * xr[i]);
      const float mean = static_cast<float>(sum / static_cast<double>(n));
      const float scale = 1.0f / std::sqrt(mean + e);
      for (int64_t i = 0; i < n; ++i) yp[r * n + i] = xr[i] * scale * wp[i];
    }
  });
  return y.to(x_in.scalar_type());
}

std::pair<at::Tensor, at::Tensor> rope_tables(const at::Tensor& positions, float base, int64_t rope_dim,
                                              const std::vector<float>& freq_factors, float freq_scale) {
  const at::Tensor pos = positions.to(at::kLong).contiguous();
  const int64_t half = rope_dim / 2, P = pos.numel();
  at::Tensor c = at::empty({P, half}, at::kFloat), s = at::empty({P, half}, at::kFloat);
  const int64_t* pp = pos.data_ptr<int64_t>();
  float* cp = c.data_ptr<float>();
  float* sp = s.data_ptr<float>();
  const float theta_scale = std::pow(base, -2.0f / static_cast<float>(rope_dim));
  for (int64_t r = 0; r < P; ++r) {
    float theta = static_cast<float>(pp[r]);
    for (int64_t i = 0; i < half; ++i) {
      const float ff = static_cast<size_t>(i) < freq_factors.size() ? freq_factors[static_cast<size_t>(i)] : 1.0f;
      const float t = freq_scale * (theta / ff);
      cp[r * half + i] = std::cos(t);
      sp[r * half + i] = std::sin(t);
      theta *= theta_scale;
    }
  }
  auto shape = positions.sizes().vec();
  shape.push_back(1);
  shape.push_back(half);
  return {c.view(shape), s.view(shape)};
}

at::Tensor rope(const at::Tensor& x_in, const at::Tensor& cos_in, const at::Tensor& sin_in, int64_t rope_dim, bool neox) {
  const at::Tensor x = x_in.to(at::kFloat).contiguous();
  const int64_t B = x.size(0), n = x.size(1), H = x.size(2), hd = x.size(3), half = rope_dim / 2;
  const at::Tensor cs = cos_in.to(at::kFloat).expand({B, n, 1, half}).contiguous(),
                   sn = sin_in.to(at::kFloat).expand({B, n, 1, half}).contiguous();
  at::Tensor y = x.clone();
  const float* xp = x.data_ptr<float>();
  const float* cp = cs.data_ptr<float>();
  const float* sp = sn.data_ptr<float>();
  float* yp = y.data_ptr<float>();
  at::parallel_for(0, B * n, 1, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r)
      for (int64_t h = 0; h < H; ++h) {
        const float* src = xp + (r * H + h) * hd;
        float* dst = yp + (r * H + h) * hd;
        for (int64_t i = 0; i < half; ++i) {
          const int64_t i0 = neox ? i : 2 * i, i1 = neox ? i + half : 2 * i + 1;
          const float c = cp[r * half + i], s = sp[r * half + i], x0 = src[i0], x1 = src[i1];
          dst[i0] = std::fma(x0, c, -(x1 * s));
          dst[i1] = std::fma(x0, s, x1 * c);
        }
      }
  });
  return y.to(x_in.scalar_type());
}

namespace {

inline float bits_to_float(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
inline uint32_t float_to_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

// e^x as ggml's vector code computes it lane by lane (a polynomial in the reduced argument b
// with n = round(x / ln 2)); the coefficients are the published ones of that approximation.
float ggml_expf(float x, bool avx512) {
  const float r = 0x1.8p23f;
  const float z = std::fma(x, 0x1.715476p+0f, r);
  const float n = z - r;
  const float b = std::fma(-n, 0x1.7f7d1cp-20f, std::fma(-n, 0x1.62e4p-1f, x));
  const float u = b * b;
  const float p = std::fma(std::fma(0x1.0e4020p-7f, b, 0x1.573e2ep-5f), u, std::fma(0x1.555e66p-3f, b, 0x1.fffdb6p-2f));
  if (avx512) {
    if (std::fabs(n) > 192) return n <= 0 ? 0.0f : INFINITY;  // underflow to 0, overflow to infinity
    const float j = std::fma(p, u, std::fma(0x1.ffffecp-1f, b, 1.0f));
    return std::ldexp(j, static_cast<int>(n));
  }
  const float j = std::fma(p, u, 0x1.ffffecp-1f * b);
  const uint32_t e = float_to_bits(z) << 23;
  const float k = bits_to_float(e + float_to_bits(1.0f));
  if (!(std::fabs(n) > 126)) return std::fma(j, k, k);
  const uint32_t g = n <= 0 ? 0x82000000u : 0u;
  const float s1 = bits_to_float(g + 0x7f000000u);
  const float s2 = bits_to_float(e - g);
  if (std::fabs(n) > 192) return s1 * s1;
  return std::fma(s2, j, s2) * s1;
}

}  // namespace

at::Tensor swiglu(const at::Tensor& g_in, const at::Tensor& u_in) {
  const at::Tensor g = g_in.to(at::kFloat).contiguous(), u = u_in.to(at::kFloat).contiguous();
  at::Tensor y = at::empty_like(g);
  const int64_t n = g.size(-1), rows = g.numel() / n;
  const bool avx512 = cpu_has_avx512();
  const int64_t vec = n - n % (avx512 ? 16 : 8);
  const float* gp = g.data_ptr<float>();
  const float* up = u.data_ptr<float>();
  float* yp = y.data_ptr<float>();
  at::parallel_for(0, rows, 1, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r)
      for (int64_t i = 0; i < n; ++i) {
        const float x = gp[r * n + i];
        const float e = i < vec ? ggml_expf(0.0f - x, avx512) : std::exp(-x);
        yp[r * n + i] = (x / (1.0f + e)) * up[r * n + i];
      }
  });
  return y.to(g_in.scalar_type());
}

at::Tensor linear(const Weight& w, const at::Tensor& x, const at::Tensor& bias, const RowLayout& layout) {
  if (exact_supported(w.type) && w.blocks && x.device().is_cpu() && x.scalar_type() == at::kFloat) {
    const bool kq = w.type == GgmlType::Q4_K || w.type == GgmlType::Q6_K;
    if (w.in % (kq ? 256 : 32) == 0) {
      at::Tensor y = kq ? exact_linear_k(w, x, layout) : exact_linear(w, x);
      return bias.defined() ? y + bias : y;
    }
  }
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
        // ggml's table entry: its GELU in float with 1 + A*x*x contracted to fma(A*x, x, 1) (GCC on
        // an FMA target), rounded to f16.
        o[i] = f16r(0.5f * h * (1.0f + std::tanh(kSqrt2OverPi * h * std::fma(kCoefA * h, h, 1.0f))));
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
  const bool avx512 = cpu_has_avx512();
  const int64_t np16 = cpu_has_avx512fp16() ? hd - hd % 128 : 0;

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
            float s = (avx512 ? dot_f16_lanes<16> : dot_f16_lanes<8>)(qh.data(), K + t * hd, hd) * scale;
            if (softcap > 0) s = softcap * std::tanh(s);
            const float Mold = M;
            float ms = 1.0f, vs = 1.0f;
            // The f16 accumulator: native f16 vectors (one rounding of the exact result, the factor
            // itself rounded to f16) for the first np16 values, float then rounded for the rest.
            if (s > M) {
              M = s;
              ms = std::exp(Mold - M);
              const double msh = f16r(ms);
              for (int64_t d = 0; d < np16; ++d) acc[static_cast<size_t>(d)] = f16_round_once(acc[static_cast<size_t>(d)] * msh);
              for (int64_t d = np16; d < hd; ++d) acc[static_cast<size_t>(d)] = f16r(acc[static_cast<size_t>(d)] * ms);
            } else {
              vs = std::exp(s - M);
            }
            const float* vr = V + t * hd;
            const double vsh = f16r(vs);
            for (int64_t d = 0; d < np16; ++d)
              acc[static_cast<size_t>(d)] = f16_round_once(static_cast<double>(vr[d]) * vsh + acc[static_cast<size_t>(d)]);
            for (int64_t d = np16; d < hd; ++d)
              acc[static_cast<size_t>(d)] = f16r(std::fma(vr[d], vs, acc[static_cast<size_t>(d)]));
            S = std::fma(S, ms, vs);  // GCC contracts ggml's S*ms + vs
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
            // ggml_vec_soft_max_f32: the vector exp, each vector summed horizontally, the sums in double.
            const int64_t lanes = avx512 ? 16 : 8;
            for (int64_t c = 0; c < kTile; c += lanes) {
              for (int64_t l = 0; l < lanes; ++l)
                kq[static_cast<size_t>(c + l)] = ggml_expf(kq[static_cast<size_t>(c + l)] - M, avx512);
              sum += avx512 ? hsum16(kq.data() + c) : hsum8(kq.data() + c);
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
