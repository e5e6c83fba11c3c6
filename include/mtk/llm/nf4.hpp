#pragma once
// NF4 (4-bit NormalFloat, QLoRA) quantisation of frozen base weights, as bitsandbytes'
// quantize_4bit(quant_type="nf4", blocksize=64, compress_statistics=False) stores it: each block of
// 64 consecutive values (row-major) keeps its absolute maximum (float32) and, per value, the index
// of the nearest of the 16 NF4 levels to value / absmax (a value exactly between two levels takes
// the lower one, as bitsandbytes' decision tree does); two indices per byte, the first in the high
// nibble. Dequantised value = level[index] * absmax. Torch operations only, so it runs on the
// weight's device. LoadOptions::quantize = "nf4" applies it to the seven projections of every
// layer of a dense (safetensors) model at load; llm::Weight dequantises them per use.
#include <ATen/core/Tensor.h>

#include <array>

namespace mtk::llm {

// The 16 NF4 levels (bitsandbytes' table).
const std::array<float, 16>& nf4_levels();

struct Nf4Blocks {
  at::Tensor packed;  // uint8 [numel / 2]
  at::Tensor absmax;  // float32 [numel / 64]
};

// w: a floating tensor whose element count is a multiple of 64 (throws mtk::Error otherwise).
Nf4Blocks nf4_quantize(const at::Tensor& w);
// The dequantised values, float32, shaped [rows, cols] (rows * cols = the quantised count).
at::Tensor nf4_dequantize(const Nf4Blocks& q, int64_t rows, int64_t cols);

}  // namespace mtk::llm
