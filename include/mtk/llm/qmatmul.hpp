#pragma once
// Matrix products with weights kept in their GGUF block format, for the decode step (a handful of
// activation rows), where reading float32 weights from memory would dominate the time.
//
//   y[r][o] = sum_i x[r][i] * W[o][i]     r < rows, o < out, i < in
//
// W is `out` rows of `in` elements stored back to back as ggml blocks of 32 (Q4_0, Q4_1, Q8_0).
// Each block is dequantised exactly as dequantize() does it (d*q, or d*q + m for Q4_1) — per block
// the kernel forms d * sum(q*x) (+ m * sum(x)), so results agree with a float32 product of the
// dequantised matrix up to float rounding of the sums. AVX2+FMA when the CPU has it, portable C++
// otherwise; rows are split over libtorch's intra-op threads.
#include <cstddef>
#include <cstdint>

#include "mtk/llm/quant.hpp"

namespace mtk::llm {

// Whether qmatmul handles weights of type t.
bool qmatmul_supported(GgmlType t);

// x: rows x in floats (row-major), y: rows x out floats. `in` must be a multiple of 32.
void qmatmul(GgmlType t, const void* w, int64_t out, int64_t in, const float* x, int64_t rows, float* y);

// The scalar reference path (no SIMD, one thread), for tests.
void qmatmul_reference(GgmlType t, const void* w, int64_t out, int64_t in, const float* x, int64_t rows, float* y);

}  // namespace mtk::llm
