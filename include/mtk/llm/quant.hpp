#pragma once
// ggml tensor element types and their dequantisation to float32.
//
// A quantised row is a sequence of fixed-size blocks; each block packs `block_size` elements into
// `type_size` bytes. All multi-byte fields are little-endian; "fp16" is IEEE binary16, "bf16" the
// top half of a binary32. Layouts (offsets in bytes within one block):
//
//   Q4_0  32 el, 18 B: fp16 d | u8 qs[16]. Element j (j<16) is the low nibble of qs[j], element
//         j+16 its high nibble; x = (q - 8) * d.
//   Q4_1  32 el, 20 B: fp16 d | fp16 m | u8 qs[16]; same nibble order; x = q * d + m.
//   Q5_0  32 el, 22 B: fp16 d | u32 qh | u8 qs[16]; bit j of qh is bit 4 of element j;
//         x = (q - 16) * d.
//   Q5_1  32 el, 24 B: fp16 d | fp16 m | u32 qh | u8 qs[16]; x = q * d + m.
//   Q8_0  32 el, 34 B: fp16 d | i8 qs[32]; x = q * d.
//   Q2_K  256 el, 84 B: u8 scales[16] | u8 qs[64] | fp16 d | fp16 dmin. Sixteen sub-blocks of 16;
//         scales[s] holds the 4-bit scale (low nibble) and 4-bit min (high nibble) of sub-block s.
//         Element e: half h = e/128, shift pair p = (e%128)/32, l = e%32; q = (qs[32h+l] >> 2p) & 3;
//         sub-block e/16; x = d*sc*q - dmin*mn.
//   Q3_K  256 el, 110 B: u8 hmask[32] | u8 qs[64] | u8 scales[12] | fp16 d. Low 2 bits of q as in
//         Q2_K; bit e/32 of hmask[e%32] set means q stays, clear means q -= 4 (so q in [-4, 3]).
//         Sixteen 6-bit signed scales (stored +32): low 4 bits are nibble s/8 of scales[s%8],
//         high 2 bits are bits 2*(s/4) of scales[8 + s%4]; x = d * (sc - 32) * q.
//   Q4_K  256 el, 144 B: fp16 d | fp16 dmin | u8 scales[12] | u8 qs[128]. Eight sub-blocks of 32
//         with a 6-bit scale and 6-bit min each (see unpack in quant.cpp). Chunk c (64 elements)
//         uses qs[32c .. 32c+31]: low nibbles are sub-block 2c, high nibbles sub-block 2c+1;
//         x = d*sc*q - dmin*mn.
//   Q5_K  256 el, 176 B: fp16 d | fp16 dmin | u8 scales[12] | u8 qh[32] | u8 qs[128]; Q4_K plus
//         bit 4 of element e stored in bit e/32 of qh[e%32].
//   Q6_K  256 el, 210 B: u8 ql[128] | u8 qh[64] | i8 scales[16] | fp16 d. Two halves of 128; in
//         half h, for l<32 the four elements l, l+32, l+64, l+96 take the low nibble of ql[64h+l],
//         the low nibble of ql[64h+l+32], the high nibble of ql[64h+l], the high nibble of
//         ql[64h+l+32], plus bit pairs 0-1, 2-3, 4-5, 6-7 of qh[32h+l] as bits 4-5; q -= 32;
//         sixteen sub-blocks of 16; x = d * scales[e/16] * q.
//
// The arithmetic is done in float32 in the same order as the reference implementations
// (for K-quants: d*sc and dmin*mn first), so results are bit-identical to ggml and gguf-py.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace mtk::llm {

enum class GgmlType : uint32_t {
  F32 = 0,
  F16 = 1,
  Q4_0 = 2,
  Q4_1 = 3,
  Q5_0 = 6,
  Q5_1 = 7,
  Q8_0 = 8,
  Q8_1 = 9,
  Q2_K = 10,
  Q3_K = 11,
  Q4_K = 12,
  Q5_K = 13,
  Q6_K = 14,
  Q8_K = 15,
  IQ2_XXS = 16,
  IQ2_XS = 17,
  IQ3_XXS = 18,
  IQ1_S = 19,
  IQ4_NL = 20,
  IQ3_S = 21,
  IQ2_S = 22,
  IQ4_XS = 23,
  I8 = 24,
  I16 = 25,
  I32 = 26,
  I64 = 27,
  F64 = 28,
  IQ1_M = 29,
  BF16 = 30,
  TQ1_0 = 34,
  TQ2_0 = 35,
  MXFP4 = 39,
};

struct GgmlTypeInfo {
  GgmlType type;
  const char* name;     // as ggml spells it: "Q4_K", "F16", ...
  uint32_t block_size;  // elements per block (1 for plain types)
  uint32_t type_size;   // bytes per block
  bool dequantizable;   // dequantize() supports it
};

// nullptr for an id ggml does not define (or no longer defines, like the removed Q4_2).
const GgmlTypeInfo* find_type_info(uint32_t id);
const GgmlTypeInfo& type_info(GgmlType t);
inline const char* type_name(GgmlType t) { return type_info(t).name; }
// Every type dequantize() accepts, in id order.
std::vector<GgmlType> dequantizable_types();

// Bytes taken by n elements of type t; throws mtk::Error when n is not a multiple of the block
// size or the byte count overflows.
uint64_t bytes_for(GgmlType t, uint64_t n);

// Decodes n elements (a multiple of the block size) starting at src, which must hold
// bytes_for(t, n) bytes, into dst[0..n). Throws mtk::Error for types without a decoder.
void dequantize(GgmlType t, const void* src, float* dst, size_t n);

// Decodes n_rows rows of row_len elements each (rows stored back to back), in parallel over
// rows when the total is large. threads: 0 = hardware threads, 1 = the calling thread only.
void dequantize_rows(GgmlType t, const void* src, float* dst, size_t n_rows, size_t row_len, unsigned threads = 0);

// Half and bfloat16 bit patterns to float, exactly (subnormals, infinities and NaN payloads kept).
float fp16_to_fp32(uint16_t h);
float bf16_to_fp32(uint16_t h);

// The eight 6-bit scales and mins of a Q4_K/Q5_K super-block, packed in 12 bytes: bytes 0-3 hold
// the scales of sub-blocks 0-3 (low 6 bits) and the top 2 bits of scales 4-7; bytes 4-7 the same
// for the mins; bytes 8-11 the low 4 bits of scales 4-7 (low nibble) and mins 4-7 (high nibble).
void unpack_k_scales(const uint8_t* p, uint8_t sc[8], uint8_t mn[8]);

}  // namespace mtk::llm
