#pragma once
// "llama.cpp numerics": an opt-in mode of the CPU forward pass (LoadOptions::llamacpp_numerics)
// that reproduces the roundings of llama.cpp's CPU backend (ggml-cpu, AVX2 build, flash attention
// on as llama.cpp's "auto" resolves it on CPU), meant to make greedy decoding agree with llama.cpp
// token for token even where its top two logits nearly tie. EXPERIMENTAL, not there yet: on
// SmolLM2 Q4_1 it gives 3/10 identical 48-token continuations (301/480 tokens before the first
// divergence) against 4/10 (256/480) in float32 (tests/llm/test_llamacpp_parity.cpp). The default mode computes the model exactly
// in float32 (as Hugging Face transformers does); this one differs from it by design:
//
//  * Activations entering a product with a quantised weight are quantised to the block format ggml
//    pairs with the weight type (its vec_dot_type): Q8_0 blocks of 32 for Q4_0/Q5_0/Q8_0, Q8_1 for
//    Q4_1/Q5_1 (with the block sum s = fp16(d * sum q) that the Q4_1 minimum multiplies), Q8_K
//    blocks of 256 for the K-quants, fp16 for F16 weights. The product of the quantised values is
//    then formed in float32: the integer block dot products of ggml are exact, so only the order of
//    the float sums differs (relative 1e-7).
//  * Keys and values are rounded to fp16 when they enter the cache (ggml's f16 KV cache).
//  * Attention is ggml's flash attention: for fewer than 64 query tokens of a sequence per call
//    (decode, short prompts) the query is rounded to fp16, each score is an f16 x f16 dot product
//    accumulated in float32 in ggml's lane order, and the online-softmax output accumulator is fp16
//    (rounded after every scale and every fused multiply-add); from 64 tokens on, ggml's tiled path:
//    float32 queries, tiles of 64 keys, float32 accumulation.
//  * GELU (Gemma's GeGLU) goes through ggml's fp16 table: gelu(x) = fp16(gelu(fp16(x))) for
//    |x| < 10, 0 below -10 and x above 10.
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <vector>

#include "mtk/llm/quant.hpp"

namespace mtk::llm {

struct Weight;

namespace lcn {

// The block format ggml quantises activations to for a product with weights of type t
// (GgmlType::F32 when the activations stay float32).
GgmlType vec_dot_type(GgmlType t);

// x [..., in] rounded as ggml rounds it for a product with a weight of type t: each block
// quantised to vec_dot_type(t) and dequantised (d * q, exactly representable in float32).
at::Tensor quantize_activations(GgmlType t, const at::Tensor& x);

// w.linear(x, bias) with llama.cpp's activation rounding (see above).
at::Tensor linear(const Weight& w, const at::Tensor& x, const at::Tensor& bias = {});

// Elementwise round to the nearest fp16 value (kept as float32).
at::Tensor round_f16(const at::Tensor& x);

// ggml's table GELU (tanh approximation through fp16).
at::Tensor gelu_f16_table(const at::Tensor& x);

// Flash attention as ggml-cpu computes it. q [B, n, nh, hd] (float32, queries at slots
// start..start+n-1); k, v [B, nkv, T, hd] (float32 holding fp16 values, T >= start + n). Sequence b
// sees slots pad[b] .. its own (and, when window > 0, fewer than window positions back).
// Returns [B, n, nh * hd]; rows of padding queries are zero.
at::Tensor attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const std::vector<int64_t>& pad,
                     int64_t start, int64_t window, float scale, float softcap);

}  // namespace lcn
}  // namespace mtk::llm
