#include "mtk/llm/quant.hpp"

#include <algorithm>
#include <array>
#include <cstring>
#include <limits>

#include "mtk/core/error.hpp"
#include "mtk/core/thread_pool.hpp"

// Bit-exact parity with the reference decoders needs separate multiply and add roundings.
#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#endif

namespace mtk::llm {

namespace {

constexpr uint32_t QK = 32;     // elements per block of the legacy quants
constexpr uint32_t QK_K = 256;  // elements per super-block of the K-quants

constexpr GgmlTypeInfo kTypes[] = {
    {GgmlType::F32, "F32", 1, 4, true},
    {GgmlType::F16, "F16", 1, 2, true},
    {GgmlType::Q4_0, "Q4_0", QK, 2 + QK / 2, true},
    {GgmlType::Q4_1, "Q4_1", QK, 4 + QK / 2, true},
    {GgmlType::Q5_0, "Q5_0", QK, 2 + 4 + QK / 2, true},
    {GgmlType::Q5_1, "Q5_1", QK, 4 + 4 + QK / 2, true},
    {GgmlType::Q8_0, "Q8_0", QK, 2 + QK, true},
    {GgmlType::Q8_1, "Q8_1", QK, 4 + QK, false},
    {GgmlType::Q2_K, "Q2_K", QK_K, QK_K / 16 + QK_K / 4 + 4, true},
    {GgmlType::Q3_K, "Q3_K", QK_K, QK_K / 8 + QK_K / 4 + 12 + 2, true},
    {GgmlType::Q4_K, "Q4_K", QK_K, 4 + 12 + QK_K / 2, true},
    {GgmlType::Q5_K, "Q5_K", QK_K, 4 + 12 + QK_K / 8 + QK_K / 2, true},
    {GgmlType::Q6_K, "Q6_K", QK_K, QK_K / 2 + QK_K / 4 + QK_K / 16 + 2, true},
    {GgmlType::Q8_K, "Q8_K", QK_K, 4 + QK_K + QK_K / 16 * 2, true},
    {GgmlType::IQ2_XXS, "IQ2_XXS", QK_K, 2 + QK_K / 4, false},
    {GgmlType::IQ2_XS, "IQ2_XS", QK_K, 2 + QK_K / 4 + QK_K / 32, false},
    {GgmlType::IQ3_XXS, "IQ3_XXS", QK_K, 2 + QK_K / 4 + QK_K / 8, false},
    {GgmlType::IQ1_S, "IQ1_S", QK_K, 2 + QK_K / 8 + QK_K / 16, false},
    {GgmlType::IQ4_NL, "IQ4_NL", QK, 2 + QK / 2, false},
    {GgmlType::IQ3_S, "IQ3_S", QK_K, 2 + QK_K / 4 + QK_K / 8 + QK_K / 32 + 4, false},
    {GgmlType::IQ2_S, "IQ2_S", QK_K, 2 + QK_K / 4 + QK_K / 16, false},
    {GgmlType::IQ4_XS, "IQ4_XS", QK_K, 4 + QK_K / 2 + QK_K / 64, false},
    {GgmlType::I8, "I8", 1, 1, false},
    {GgmlType::I16, "I16", 1, 2, false},
    {GgmlType::I32, "I32", 1, 4, false},
    {GgmlType::I64, "I64", 1, 8, false},
    {GgmlType::F64, "F64", 1, 8, false},
    {GgmlType::IQ1_M, "IQ1_M", QK_K, QK_K / 8 + QK_K / 16 + QK_K / 32, false},
    {GgmlType::BF16, "BF16", 1, 2, true},
    {GgmlType::TQ1_0, "TQ1_0", QK_K, 2 + 4 * 13, false},
    {GgmlType::TQ2_0, "TQ2_0", QK_K, 2 + QK_K / 4, false},
    {GgmlType::MXFP4, "MXFP4", QK, 1 + QK / 2, false},
};

inline uint16_t load_u16(const uint8_t* p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}
inline uint32_t load_u32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

float half_bits_to_float(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1fu;
  uint32_t mant = h & 0x3ffu;
  uint32_t bits;
  if (exp == 0x1f) {
    bits = sign | 0x7f800000u | (mant << 13);
  } else if (exp != 0) {
    bits = sign | ((exp + 112) << 23) | (mant << 13);
  } else if (mant == 0) {
    bits = sign;
  } else {  // subnormal half: normalise into a float32 exponent
    uint32_t e = 113;
    while (!(mant & 0x400u)) {
      mant <<= 1;
      --e;
    }
    bits = sign | (e << 23) | ((mant & 0x3ffu) << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

const std::array<float, 65536>& half_table() {
  static const std::array<float, 65536> table = [] {
    std::array<float, 65536> t{};
    for (uint32_t i = 0; i < 65536; ++i) t[i] = half_bits_to_float(static_cast<uint16_t>(i));
    return t;
  }();
  return table;
}

struct Half {
  const float* t = half_table().data();
  float operator()(const uint8_t* p) const { return t[load_u16(p)]; }
};

void deq_f32(const uint8_t* s, float* y, size_t n) { std::memcpy(y, s, n * 4); }

void deq_f16(const uint8_t* s, float* y, size_t n) {
  const Half h;
  for (size_t i = 0; i < n; ++i) y[i] = h(s + 2 * i);
}

void deq_bf16(const uint8_t* s, float* y, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    const uint32_t bits = static_cast<uint32_t>(load_u16(s + 2 * i)) << 16;
    std::memcpy(y + i, &bits, 4);
  }
}

void deq_q4_0(const uint8_t* s, float* y, size_t nb) {
  const Half h;
  for (size_t b = 0; b < nb; ++b, s += 18, y += QK) {
    const float d = h(s);
    const uint8_t* qs = s + 2;
    for (int j = 0; j < 16; ++j) {
      y[j] = static_cast<float>(static_cast<int>(qs[j] & 0x0f) - 8) * d;
      y[j + 16] = static_cast<float>(static_cast<int>(qs[j] >> 4) - 8) * d;
    }
  }
}

void deq_q4_1(const uint8_t* s, float* y, size_t nb) {
  const Half h;
  for (size_t b = 0; b < nb; ++b, s += 20, y += QK) {
    const float d = h(s), m = h(s + 2);
    const uint8_t* qs = s + 4;
    for (int j = 0; j < 16; ++j) {
      y[j] = static_cast<float>(qs[j] & 0x0f) * d + m;
      y[j + 16] = static_cast<float>(qs[j] >> 4) * d + m;
    }
  }
}

void deq_q5_0(const uint8_t* s, float* y, size_t nb) {
  const Half h;
  for (size_t b = 0; b < nb; ++b, s += 22, y += QK) {
    const float d = h(s);
    const uint32_t qh = load_u32(s + 2);
    const uint8_t* qs = s + 6;
    for (int j = 0; j < 16; ++j) {
      const int lo = (qs[j] & 0x0f) | static_cast<int>(((qh >> j) & 1u) << 4);
      const int hi = (qs[j] >> 4) | static_cast<int>(((qh >> (j + 16)) & 1u) << 4);
      y[j] = static_cast<float>(lo - 16) * d;
      y[j + 16] = static_cast<float>(hi - 16) * d;
    }
  }
}

void deq_q5_1(const uint8_t* s, float* y, size_t nb) {
  const Half h;
  for (size_t b = 0; b < nb; ++b, s += 24, y += QK) {
    const float d = h(s), m = h(s + 2);
    const uint32_t qh = load_u32(s + 4);
    const uint8_t* qs = s + 8;
    for (int j = 0; j < 16; ++j) {
      const uint32_t lo = (qs[j] & 0x0fu) | (((qh >> j) & 1u) << 4);
      const uint32_t hi = (qs[j] >> 4) | (((qh >> (j + 16)) & 1u) << 4);
      y[j] = static_cast<float>(lo) * d + m;
      y[j + 16] = static_cast<float>(hi) * d + m;
    }
  }
}

void deq_q8_0(const uint8_t* s, float* y, size_t nb) {
  const Half h;
  for (size_t b = 0; b < nb; ++b, s += 34, y += QK) {
    const float d = h(s);
    const auto* qs = reinterpret_cast<const int8_t*>(s + 2);
    for (uint32_t j = 0; j < QK; ++j) y[j] = static_cast<float>(qs[j]) * d;
  }
}

void deq_q2_k(const uint8_t* s, float* y, size_t nb) {
  const Half h;
  for (size_t b = 0; b < nb; ++b, s += 84, y += QK_K) {
    const uint8_t* sc = s;
    const uint8_t* qs = s + 16;
    const float d = h(s + 80), dmin = h(s + 82);
    float dl[16], ml[16];
    for (int k = 0; k < 16; ++k) {
      dl[k] = d * static_cast<float>(sc[k] & 0x0f);
      ml[k] = dmin * static_cast<float>(sc[k] >> 4);
    }
    for (int half = 0; half < 2; ++half) {
      const uint8_t* q = qs + 32 * half;
      for (int p = 0; p < 4; ++p) {
        float* out = y + 128 * half + 32 * p;
        const int sb = 8 * half + 2 * p;
        for (int l = 0; l < 32; ++l) {
          const int k = sb + l / 16;
          out[l] = dl[k] * static_cast<float>((q[l] >> (2 * p)) & 3) - ml[k];
        }
      }
    }
  }
}

void deq_q3_k(const uint8_t* s, float* y, size_t nb) {
  const Half h;
  for (size_t b = 0; b < nb; ++b, s += 110, y += QK_K) {
    const uint8_t* hmask = s;
    const uint8_t* qs = s + 32;
    const uint8_t* sc = s + 96;
    const float d = h(s + 108);
    float dl[16];
    for (int k = 0; k < 16; ++k) {
      const int low = (sc[k % 8] >> (4 * (k / 8))) & 0x0f;
      const int high = (sc[8 + k % 4] >> (2 * (k / 4))) & 0x03;
      dl[k] = d * static_cast<float>((low | (high << 4)) - 32);
    }
    for (int half = 0; half < 2; ++half) {
      const uint8_t* q = qs + 32 * half;
      for (int p = 0; p < 4; ++p) {
        float* out = y + 128 * half + 32 * p;
        const int bit = 4 * half + p;
        const int sb = 8 * half + 2 * p;
        for (int l = 0; l < 32; ++l) {
          const int v = ((q[l] >> (2 * p)) & 3) - (((hmask[l] >> bit) & 1) ? 0 : 4);
          out[l] = dl[sb + l / 16] * static_cast<float>(v);
        }
      }
    }
  }
}

void deq_q4_k(const uint8_t* s, float* y, size_t nb) {
  const Half h;
  for (size_t b = 0; b < nb; ++b, s += 144, y += QK_K) {
    const float d = h(s), dmin = h(s + 2);
    uint8_t sc[8], mn[8];
    unpack_k_scales(s + 4, sc, mn);
    const uint8_t* qs = s + 16;
    for (int c = 0; c < 4; ++c) {
      const float d1 = d * static_cast<float>(sc[2 * c]), m1 = dmin * static_cast<float>(mn[2 * c]);
      const float d2 = d * static_cast<float>(sc[2 * c + 1]), m2 = dmin * static_cast<float>(mn[2 * c + 1]);
      const uint8_t* q = qs + 32 * c;
      float* out = y + 64 * c;
      for (int l = 0; l < 32; ++l) out[l] = d1 * static_cast<float>(q[l] & 0x0f) - m1;
      for (int l = 0; l < 32; ++l) out[32 + l] = d2 * static_cast<float>(q[l] >> 4) - m2;
    }
  }
}

void deq_q5_k(const uint8_t* s, float* y, size_t nb) {
  const Half h;
  for (size_t b = 0; b < nb; ++b, s += 176, y += QK_K) {
    const float d = h(s), dmin = h(s + 2);
    uint8_t sc[8], mn[8];
    unpack_k_scales(s + 4, sc, mn);
    const uint8_t* qh = s + 16;
    const uint8_t* qs = s + 48;
    for (int c = 0; c < 4; ++c) {
      const float d1 = d * static_cast<float>(sc[2 * c]), m1 = dmin * static_cast<float>(mn[2 * c]);
      const float d2 = d * static_cast<float>(sc[2 * c + 1]), m2 = dmin * static_cast<float>(mn[2 * c + 1]);
      const uint8_t* q = qs + 32 * c;
      float* out = y + 64 * c;
      for (int l = 0; l < 32; ++l) {
        const int v = (q[l] & 0x0f) | (((qh[l] >> (2 * c)) & 1) << 4);
        out[l] = d1 * static_cast<float>(v) - m1;
      }
      for (int l = 0; l < 32; ++l) {
        const int v = (q[l] >> 4) | (((qh[l] >> (2 * c + 1)) & 1) << 4);
        out[32 + l] = d2 * static_cast<float>(v) - m2;
      }
    }
  }
}

void deq_q6_k(const uint8_t* s, float* y, size_t nb) {
  const Half h;
  for (size_t b = 0; b < nb; ++b, s += 210, y += QK_K) {
    const float d = h(s + 208);
    const auto* scales = reinterpret_cast<const int8_t*>(s + 192);
    float ds[16];
    for (int k = 0; k < 16; ++k) ds[k] = d * static_cast<float>(scales[k]);
    for (int half = 0; half < 2; ++half) {
      const uint8_t* ql = s + 64 * half;
      const uint8_t* qh = s + 128 + 32 * half;
      const float* dh = ds + 8 * half;
      float* out = y + 128 * half;
      for (int l = 0; l < 32; ++l) {
        const int q1 = ((ql[l] & 0x0f) | (((qh[l] >> 0) & 3) << 4)) - 32;
        const int q2 = ((ql[l + 32] & 0x0f) | (((qh[l] >> 2) & 3) << 4)) - 32;
        const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
        const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
        const int sb = l / 16;
        out[l] = dh[sb + 0] * static_cast<float>(q1);
        out[l + 32] = dh[sb + 2] * static_cast<float>(q2);
        out[l + 64] = dh[sb + 4] * static_cast<float>(q3);
        out[l + 96] = dh[sb + 6] * static_cast<float>(q4);
      }
    }
  }
}

void deq_q8_k(const uint8_t* s, float* y, size_t nb) {
  for (size_t b = 0; b < nb; ++b, s += 292, y += QK_K) {
    float d;
    std::memcpy(&d, s, 4);
    const auto* qs = reinterpret_cast<const int8_t*>(s + 4);
    for (uint32_t j = 0; j < QK_K; ++j) y[j] = static_cast<float>(qs[j]) * d;
  }
}

using Kernel = void (*)(const uint8_t*, float*, size_t);  // (src, dst, blocks)

Kernel kernel_for(GgmlType t) {
  switch (t) {
    case GgmlType::F32:
      return deq_f32;
    case GgmlType::F16:
      return deq_f16;
    case GgmlType::BF16:
      return deq_bf16;
    case GgmlType::Q4_0:
      return deq_q4_0;
    case GgmlType::Q4_1:
      return deq_q4_1;
    case GgmlType::Q5_0:
      return deq_q5_0;
    case GgmlType::Q5_1:
      return deq_q5_1;
    case GgmlType::Q8_0:
      return deq_q8_0;
    case GgmlType::Q2_K:
      return deq_q2_k;
    case GgmlType::Q3_K:
      return deq_q3_k;
    case GgmlType::Q4_K:
      return deq_q4_k;
    case GgmlType::Q5_K:
      return deq_q5_k;
    case GgmlType::Q6_K:
      return deq_q6_k;
    case GgmlType::Q8_K:
      return deq_q8_k;
    default:
      return nullptr;
  }
}

std::string supported_list() {
  std::string s;
  for (const auto& ti : kTypes)
    if (ti.dequantizable) s += (s.empty() ? "" : ", ") + std::string(ti.name);
  return s;
}

Kernel require_kernel(GgmlType t) {
  const Kernel k = kernel_for(t);
  if (!k) {
    const GgmlTypeInfo* ti = find_type_info(static_cast<uint32_t>(t));
    throw Error(std::string("cannot dequantise tensors of ggml type ") +
                    (ti ? ti->name : "#" + std::to_string(static_cast<uint32_t>(t))) +
                    " (supported: " + supported_list() + ")",
                "use a model file quantised with one of the supported types, e.g. Q4_K_M, Q4_0 or Q8_0");
  }
  return k;
}

}  // namespace

void unpack_k_scales(const uint8_t* p, uint8_t sc[8], uint8_t mn[8]) {
  for (int j = 0; j < 4; ++j) {
    sc[j] = p[j] & 63;
    mn[j] = p[j + 4] & 63;
    sc[j + 4] = static_cast<uint8_t>((p[j + 8] & 0x0f) | ((p[j] >> 6) << 4));
    mn[j + 4] = static_cast<uint8_t>((p[j + 8] >> 4) | ((p[j + 4] >> 6) << 4));
  }
}

const GgmlTypeInfo* find_type_info(uint32_t id) {
  for (const auto& ti : kTypes)
    if (static_cast<uint32_t>(ti.type) == id) return &ti;
  return nullptr;
}

const GgmlTypeInfo& type_info(GgmlType t) {
  const GgmlTypeInfo* ti = find_type_info(static_cast<uint32_t>(t));
  if (!ti) throw Error("unknown ggml type id " + std::to_string(static_cast<uint32_t>(t)));
  return *ti;
}

std::vector<GgmlType> dequantizable_types() {
  std::vector<GgmlType> out;
  for (const auto& ti : kTypes)
    if (ti.dequantizable) out.push_back(ti.type);
  return out;
}

uint64_t bytes_for(GgmlType t, uint64_t n) {
  const GgmlTypeInfo& ti = type_info(t);
  if (n % ti.block_size != 0)
    throw Error(std::to_string(n) + " elements of type " + ti.name + " do not fill whole blocks of " +
                std::to_string(ti.block_size));
  const uint64_t blocks = n / ti.block_size;
  if (blocks > std::numeric_limits<uint64_t>::max() / ti.type_size)
    throw Error(std::to_string(n) + " elements of type " + ti.name + " overflow a 64-bit byte count");
  return blocks * ti.type_size;
}

float fp16_to_fp32(uint16_t h) { return half_table()[h]; }

float bf16_to_fp32(uint16_t h) {
  const uint32_t bits = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

void dequantize(GgmlType t, const void* src, float* dst, size_t n) {
  const Kernel k = require_kernel(t);
  const GgmlTypeInfo& ti = type_info(t);
  if (n % ti.block_size != 0)
    throw Error("cannot dequantise " + std::to_string(n) + " elements of type " + ti.name +
                ": not a multiple of its block size " + std::to_string(ti.block_size));
  k(static_cast<const uint8_t*>(src), dst, ti.block_size == 1 ? n : n / ti.block_size);
}

void dequantize_rows(GgmlType t, const void* src, float* dst, size_t n_rows, size_t row_len, unsigned threads) {
  const Kernel k = require_kernel(t);
  const GgmlTypeInfo& ti = type_info(t);
  const uint64_t row_bytes = bytes_for(t, row_len);
  const size_t units_per_row = ti.block_size == 1 ? row_len : row_len / ti.block_size;
  const auto* s = static_cast<const uint8_t*>(src);
  const uint64_t total = static_cast<uint64_t>(n_rows) * row_len;
  if (threads == 0) threads = hardware_threads();
  if (threads <= 1 || n_rows < 2 || total < (1u << 20)) {
    // Rows are contiguous, so the whole range decodes in one call.
    k(s, dst, units_per_row * n_rows);
    return;
  }
  const size_t chunks = std::min<size_t>(n_rows, static_cast<size_t>(threads) * 8);
  const size_t per = (n_rows + chunks - 1) / chunks;
  parallel_for(
      chunks,
      [&](size_t c) {
        const size_t r0 = c * per;
        if (r0 >= n_rows) return;
        const size_t r1 = std::min(n_rows, r0 + per);
        k(s + r0 * row_bytes, dst + r0 * row_len, units_per_row * (r1 - r0));
      },
      threads);
}

}  // namespace mtk::llm
