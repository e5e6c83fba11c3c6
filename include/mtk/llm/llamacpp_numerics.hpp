#pragma once
// "llama.cpp numerics": an opt-in mode of the CPU forward pass (LoadOptions::llamacpp_numerics,
// `llm_logits --llamacpp-numerics`) that reproduces the arithmetic of llama.cpp's CPU backend
// (ggml-cpu built for the host, flash attention on as llama.cpp's "auto" resolves it on CPU) so
// that greedy decoding agrees with llama.cpp token for token even where its top two logits nearly
// tie. Written from a reading of ggml-cpu; no code is taken from it. It follows llama.cpp built for
// this CPU (-march=native), or, with $MTK_LLAMACPP_ISA=avx2, llama.cpp built without AVX-512
// (GGML_NATIVE=OFF GGML_AVX2=ON GGML_AVX512=OFF, as prebuilt x86-64 binaries often are).
//
// Measured against llama-cpp-python 0.3.36 built (-march=native) on the same CPU, a Sapphire Rapids
// class Xeon (AVX-512 with VNNI, FP16 and BF16): on SmolLM2-135M Q4_1 and on Gemma 3 270M Q4_K_M
// (Q5_0, Q8_0, Q4_K and Q6_K matrices) every intermediate tensor of every layer and the logits are
// bit-identical (prompts of 22 to 126 tokens: tiled and untiled attention, GEMM and GEMV row
// groups), and greedy continuations are identical token for token
// (tests/llm/test_llamacpp_parity.cpp demands both where llama.cpp reports that build).
// The default mode computes the model exactly in float32 (as Hugging Face transformers does).
//
// Both builds checked on that CPU: the same figures hold against llama-cpp-python 0.3.36 built with
// GGML_NATIVE=OFF GGML_AVX2=ON GGML_AVX512=OFF when MTK_LLAMACPP_ISA=avx2 (without it, that build
// differs from ours by up to 0.81 and 1.94 in the logits). Bit-exact parts:
//  * Q4_1, Q5_0 and Q8_0 products: activations quantised to Q8_1 / Q8_0 blocks exactly as ggml
//    does, 8 lanes of 4 integer products per block, fma(d_w * d_x, lane, acc), ggml's horizontal
//    sum, plus the Q4_1 minimum's term fma(m, s, summs) with s = fp16(d * sum q).
//  * Q4_K products as ggml's repacked q4_K_8x8 kernels compute them (GEMM for a ubatch's rows in
//    fours, GEMV for the rest) and Q6_K products as its tiled K-quant matmul (ubatches of 8 rows or
//    more) or its vec_dot (fewer), all against Q8_K activations: which kernel a row goes through
//    depends on its sequence's token count in the pass (RowLayoutScope), as in llama.cpp.
//  * RMS norm (sum of squares in double), RoPE (theta advanced by float multiplications, cosf/sinf,
//    the rotation as GCC contracts it), SwiGLU through ggml's vector exp, GELU through ggml's f16
//    table (built with GCC's contraction), Gemma's query scaling before attention.
//  * An f16 KV cache and ggml's flash attention: below 64 query tokens per sequence the f16 query,
//    f16 dot products in ggml's lane order and the f16 output accumulator (in native f16 arithmetic
//    on AVX512-FP16 CPUs, 128 values per step); from 64 on the tiled path with float32 tiles of 64
//    keys and ggml's vector exp in the softmax.
// Not reproduced: products with Q4_0, Q5_1, Q2_K, Q3_K, Q5_K and F16 weights (right values, float
// sums in another order), and ggml's split-KV attention for single-token decoding once the KV
// cache view reaches 512 cells when llama.cpp runs it on more than one thread (on one thread the
// split is a single chunk and equals the unsplit pass: 10/10 greedy continuations identical on
// SmolLM2 with prompts of 395-788 tokens, against 5/10 when llama.cpp decodes on 2 threads).
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "mtk/llm/quant.hpp"

namespace mtk::llm {

struct Weight;
class ForwardPath;

namespace lcn {

// A debugging hook for parity work: when set, the forward pass hands it its intermediate tensors
// under llama.cpp's names ("attn_norm-0", "Qcur-0", "kqv_out-0", "ffn_out-0", ...; layer after
// the dash) so that they can be compared with llama.cpp's (cb_eval). `llm_logits` sets it from
// MTK_TAP_DIR. Not thread-safe: set it before a forward pass, in one thread.
using Tap = std::function<void(const std::string& name, const at::Tensor& t)>;
Tap& debug_tap();

// Weight types whose products with activations are reproduced bit for bit: Q4_1, Q5_0 and Q8_0
// (llamafile's tinyBLAS or ggml's vec_dot lane order), Q4_K (ggml's repacked q4_K_8x8 GEMV/GEMM on
// AVX2 CPUs) and Q6_K (vec_dot). The loader keeps these in their blocks in this mode.
bool exact_supported(GgmlType t);

// Which llama.cpp build the mode follows: false for the build for this CPU (-march=native), true
// for one without AVX-512 (GGML_NATIVE=OFF GGML_AVX2=ON GGML_AVX512=OFF) when $MTK_LLAMACPP_ISA is
// avx2. Read once; any other value than native or avx2 is an error naming both.
bool follows_avx2_build();

// How llama.cpp would evaluate the rows of a forward pass: each sequence as one ubatch of n - pad
// tokens (its repacked Q4_K kernels take a ubatch's tokens four at a time and the last len % 4 one
// at a time, with different float rounding). The numerics path passes it to every product of a
// pass; rows of a product with another row count (or an empty layout) are taken one at a time.
struct RowLayout {
  int64_t n = 0;
  std::vector<int64_t> pad;
};

// The mode's forward pass (src/llm/llamacpp_forward.cpp): Model::set_llamacpp_numerics(true)
// routes Model::forward here. Inference only (no autograd, no gradient checkpointing).
const ForwardPath& forward_path();

// The block format ggml quantises activations to for a product with weights of type t
// (GgmlType::F32 when the activations stay float32).
GgmlType vec_dot_type(GgmlType t);

// x [..., in] rounded as ggml rounds it for a product with a weight of type t: each block
// quantised to vec_dot_type(t) and dequantised (d * q, exactly representable in float32).
at::Tensor quantize_activations(GgmlType t, const at::Tensor& x);

// w.linear(x, bias) with llama.cpp's activation rounding (see above), the rows laid out as `layout`.
at::Tensor linear(const Weight& w, const at::Tensor& x, const at::Tensor& bias = {}, const RowLayout& layout = {});

// ggml's RMS norm: the sum of squares in double, scale = 1 / sqrtf(float(mean) + eps), y = x * scale * w.
at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& w, double eps);

// ggml's RoPE tables for positions [B, n]: theta starts at the position and is multiplied by
// powf(base, -2 / rope_dim) in float32 from one pair to the next (divided by the pair's frequency
// factor and times freq_scale when set), cosf/sinf of it. Returns cos, sin [B, n, 1, rope_dim / 2].
std::pair<at::Tensor, at::Tensor> rope_tables(const at::Tensor& positions, float base, int64_t rope_dim,
                                              const std::vector<float>& freq_factors, float freq_scale);

// ggml's rotation of x [B, n, H, hd] (pairs (2i, 2i+1), or (i, i + rope_dim/2) for NEOX):
// x0 * cos - x1 * sin and x0 * sin + x1 * cos as GCC contracts them (fma(x0, cos, -(x1 * sin)),
// fma(x0, sin, x1 * cos)).
at::Tensor rope(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin, int64_t rope_dim, bool neox);

// ggml's SwiGLU: silu(g) * u with silu(x) = x / (1 + e^-x) and e^-x from ggml's vector exp (the
// AVX-512 or the AVX2 polynomial, whichever this CPU has, as a native llama.cpp build picks it; the
// tail of a row past a multiple of the vector width through expf).
at::Tensor swiglu(const at::Tensor& g, const at::Tensor& u);

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
