// Block-quantised matrix x activation products for decode (see qmatmul.hpp).
#include "mtk/llm/qmatmul.hpp"

#include <ATen/Parallel.h>
#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "mtk/core/error.hpp"

namespace mtk::llm {

namespace {

constexpr int QK = 32;

inline float half_at(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
  return fp16_to_fp32(h);
}

size_t block_bytes(GgmlType t) {
  switch (t) {
    case GgmlType::Q4_0: return 18;
    case GgmlType::Q4_1: return 20;
    case GgmlType::Q8_0: return 34;
    default: return 0;
  }
}

// ---- portable path ------------------------------------------------------------------------------

void rows_scalar(GgmlType t, const uint8_t* w, int64_t o0, int64_t o1, int64_t in, const float* x, int64_t rows,
                 float* y, int64_t out) {
  const int64_t nb = in / QK;
  const size_t bb = block_bytes(t);
  float q[QK];
  for (int64_t o = o0; o < o1; ++o) {
    const uint8_t* row = w + static_cast<size_t>(o) * static_cast<size_t>(nb) * bb;
    for (int64_t r = 0; r < rows; ++r) y[r * out + o] = 0.0f;
    for (int64_t b = 0; b < nb; ++b) {
      const uint8_t* s = row + static_cast<size_t>(b) * bb;
      float d = half_at(s), m = 0.0f;
      if (t == GgmlType::Q8_0) {
        for (int j = 0; j < QK; ++j) q[j] = static_cast<float>(static_cast<int8_t>(s[2 + j]));
      } else if (t == GgmlType::Q4_0) {
        for (int j = 0; j < 16; ++j) {
          q[j] = static_cast<float>((s[2 + j] & 0x0f) - 8);
          q[j + 16] = static_cast<float>((s[2 + j] >> 4) - 8);
        }
      } else {
        m = half_at(s + 2);
        for (int j = 0; j < 16; ++j) {
          q[j] = static_cast<float>(s[4 + j] & 0x0f);
          q[j + 16] = static_cast<float>(s[4 + j] >> 4);
        }
      }
      for (int64_t r = 0; r < rows; ++r) {
        const float* xb = x + r * in + b * QK;
        float dot = 0, sx = 0;
        for (int j = 0; j < QK; ++j) {
          dot += q[j] * xb[j];
          sx += xb[j];
        }
        y[r * out + o] += d * dot + m * sx;
      }
    }
  }
}

// ---- AVX2 + FMA path ------------------------------------------------------------------------------

__attribute__((target("avx2,fma,f16c"))) inline float half_f16c(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
  return _cvtsh_ss(h);
}

__attribute__((target("avx2,fma,f16c"))) inline float hsum(__m256 v) {
  __m128 lo = _mm256_castps256_ps128(v), hi = _mm256_extractf128_ps(v, 1);
  lo = _mm_add_ps(lo, hi);
  __m128 sh = _mm_movehdup_ps(lo);
  __m128 s = _mm_add_ps(lo, sh);
  sh = _mm_movehl_ps(sh, s);
  return _mm_cvtss_f32(_mm_add_ss(s, sh));
}

// Unpacks one block's 32 quants to four vectors of 8 floats (elements 0-7, 8-15, 16-23, 24-31).
template <GgmlType T>
__attribute__((target("avx2,fma,f16c"))) inline void unpack(const uint8_t* s, __m256 q[4]) {
  if constexpr (T == GgmlType::Q8_0) {
    const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(s + 2));
    const __m128i lo = _mm256_castsi256_si128(v), hi = _mm256_extracti128_si256(v, 1);
    q[0] = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(lo));
    q[1] = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(lo, 8)));
    q[2] = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(hi));
    q[3] = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(hi, 8)));
  } else {
    const uint8_t* qs = s + (T == GgmlType::Q4_1 ? 4 : 2);
    const __m128i raw = _mm_loadu_si128(reinterpret_cast<const __m128i*>(qs));
    const __m128i mask = _mm_set1_epi8(0x0f);
    __m128i lo = _mm_and_si128(raw, mask);                     // elements 0..15
    __m128i hi = _mm_and_si128(_mm_srli_epi16(raw, 4), mask);  // elements 16..31
    if constexpr (T == GgmlType::Q4_0) {
      const __m128i eight = _mm_set1_epi8(8);
      lo = _mm_sub_epi8(lo, eight);
      hi = _mm_sub_epi8(hi, eight);
      q[0] = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(lo));
      q[1] = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(lo, 8)));
      q[2] = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(hi));
      q[3] = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(hi, 8)));
    } else {
      q[0] = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(lo));
      q[1] = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(lo, 8)));
      q[2] = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(hi));
      q[3] = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(hi, 8)));
    }
  }
}

// R activation rows at once (R <= 8): each block is unpacked once and used R times.
template <GgmlType T, int R>
__attribute__((target("avx2,fma,f16c"))) void rows_avx2(const uint8_t* w, int64_t o0, int64_t o1, int64_t in,
                                                         const float* x, const float* xsum, float* y, int64_t out) {
  const int64_t nb = in / QK;
  constexpr size_t bb = T == GgmlType::Q8_0 ? 34 : T == GgmlType::Q4_1 ? 20 : 18;
  for (int64_t o = o0; o < o1; ++o) {
    const uint8_t* row = w + static_cast<size_t>(o) * static_cast<size_t>(nb) * bb;
    __m256 acc[R];
    float macc[R];
    for (int r = 0; r < R; ++r) {
      acc[r] = _mm256_setzero_ps();
      macc[r] = 0.0f;
    }
    for (int64_t b = 0; b < nb; ++b) {
      const uint8_t* s = row + static_cast<size_t>(b) * bb;
      if (b + 4 < nb) _mm_prefetch(reinterpret_cast<const char*>(s + 4 * bb), _MM_HINT_T0);
      __m256 q[4];
      unpack<T>(s, q);
      const __m256 d = _mm256_set1_ps(half_f16c(s));
      for (int r = 0; r < R; ++r) {
        const float* xb = x + r * in + b * QK;
        __m256 t = _mm256_mul_ps(q[0], _mm256_loadu_ps(xb));
        t = _mm256_fmadd_ps(q[1], _mm256_loadu_ps(xb + 8), t);
        t = _mm256_fmadd_ps(q[2], _mm256_loadu_ps(xb + 16), t);
        t = _mm256_fmadd_ps(q[3], _mm256_loadu_ps(xb + 24), t);
        acc[r] = _mm256_fmadd_ps(d, t, acc[r]);
      }
      if constexpr (T == GgmlType::Q4_1) {
        const float m = half_f16c(s + 2);
        for (int r = 0; r < R; ++r) macc[r] += m * xsum[r * nb + b];
      }
    }
    for (int r = 0; r < R; ++r) y[r * out + o] = hsum(acc[r]) + macc[r];
  }
}

template <GgmlType T>
void dispatch_avx2(const uint8_t* w, int64_t o0, int64_t o1, int64_t in, const float* x, const float* xsum,
                   int64_t rows, float* y, int64_t out) {
  const int64_t nb = in / QK;
  for (int64_t r0 = 0; r0 < rows; r0 += 8) {
    const int64_t R = std::min<int64_t>(8, rows - r0);
    const float* xr = x + r0 * in;
    const float* sr = xsum + r0 * nb;
    float* yr = y + r0 * out;
    switch (R) {
      case 1: rows_avx2<T, 1>(w, o0, o1, in, xr, sr, yr, out); break;
      case 2: rows_avx2<T, 2>(w, o0, o1, in, xr, sr, yr, out); break;
      case 3: rows_avx2<T, 3>(w, o0, o1, in, xr, sr, yr, out); break;
      case 4: rows_avx2<T, 4>(w, o0, o1, in, xr, sr, yr, out); break;
      case 5: rows_avx2<T, 5>(w, o0, o1, in, xr, sr, yr, out); break;
      case 6: rows_avx2<T, 6>(w, o0, o1, in, xr, sr, yr, out); break;
      case 7: rows_avx2<T, 7>(w, o0, o1, in, xr, sr, yr, out); break;
      default: rows_avx2<T, 8>(w, o0, o1, in, xr, sr, yr, out); break;
    }
  }
}

bool have_avx2() {
  static const bool ok = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
  return ok;
}

void check_args(GgmlType t, int64_t in) {
  if (!qmatmul_supported(t))
    throw Error(std::string("qmatmul: weight type ") + type_name(t) + " is not supported", "internal error");
  if (in % QK != 0) throw Error("qmatmul: row length " + std::to_string(in) + " is not a multiple of 32", "internal error");
}

}  // namespace

bool qmatmul_supported(GgmlType t) { return block_bytes(t) != 0; }

void qmatmul_reference(GgmlType t, const void* w, int64_t out, int64_t in, const float* x, int64_t rows, float* y) {
  check_args(t, in);
  rows_scalar(t, static_cast<const uint8_t*>(w), 0, out, in, x, rows, y, out);
}

void qmatmul(GgmlType t, const void* wv, int64_t out, int64_t in, const float* x, int64_t rows, float* y) {
  check_args(t, in);
  const uint8_t* w = static_cast<const uint8_t*>(wv);
  // Grain: enough rows per task that a task reads at least ~64 KiB of weights.
  const int64_t row_bytes = in / QK * static_cast<int64_t>(block_bytes(t));
  const int64_t grain = std::max<int64_t>(16, (64 << 10) / std::max<int64_t>(1, row_bytes));
  if (!have_avx2()) {
    at::parallel_for(0, out, grain, [&](int64_t o0, int64_t o1) { rows_scalar(t, w, o0, o1, in, x, rows, y, out); });
    return;
  }
  const int64_t nb = in / QK;
  std::vector<float> xsum;
  if (t == GgmlType::Q4_1) {
    xsum.resize(static_cast<size_t>(rows * nb));
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t b = 0; b < nb; ++b) {
        float s = 0;
        for (int j = 0; j < QK; ++j) s += x[r * in + b * QK + j];
        xsum[static_cast<size_t>(r * nb + b)] = s;
      }
  }
  at::parallel_for(0, out, grain, [&](int64_t o0, int64_t o1) {
    switch (t) {
      case GgmlType::Q4_0: dispatch_avx2<GgmlType::Q4_0>(w, o0, o1, in, x, xsum.data(), rows, y, out); break;
      case GgmlType::Q4_1: dispatch_avx2<GgmlType::Q4_1>(w, o0, o1, in, x, xsum.data(), rows, y, out); break;
      default: dispatch_avx2<GgmlType::Q8_0>(w, o0, o1, in, x, xsum.data(), rows, y, out); break;
    }
  });
}

}  // namespace mtk::llm
