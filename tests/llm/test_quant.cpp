// Dequantisation on hand-built blocks. Expected values come from the format descriptions,
// evaluated per element in the test (a few literal values, then a formula over pseudo-random
// blocks); scales are powers of two so every expected value is exact.
#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "mtk/core/error.hpp"
#include "mtk/llm/quant.hpp"

using namespace mtk::llm;

namespace {

// IEEE binary16 bit patterns used below.
constexpr uint16_t H_ONE = 0x3C00, H_HALF = 0x3800, H_QUARTER = 0x3400, H_TWO = 0x4000, H_M_HALF = 0xB800,
                   H_SIXTEENTH = 0x2C00;

struct Bytes {
  std::vector<uint8_t> b;
  void u8(uint8_t v) { b.push_back(v); }
  void u16(uint16_t v) {
    b.push_back(v & 0xff);
    b.push_back(v >> 8);
  }
  void u32(uint32_t v) {
    for (int k = 0; k < 4; ++k) b.push_back((v >> (8 * k)) & 0xff);
  }
  void f32(float f) {
    uint32_t v;
    std::memcpy(&v, &f, 4);
    u32(v);
  }
  void fill(size_t n, uint32_t& state) {
    for (size_t k = 0; k < n; ++k) b.push_back(next(state));
  }
  static uint8_t next(uint32_t& s) {
    s = s * 1664525u + 1013904223u;
    return static_cast<uint8_t>(s >> 24);
  }
};

std::vector<float> run(GgmlType t, const Bytes& in, size_t n) {
  REQUIRE(in.b.size() == bytes_for(t, n));
  std::vector<float> out(n, -12345.0f);
  dequantize(t, in.b.data(), out.data(), n);
  return out;
}

double h2d(uint16_t h) {  // half to double, from the definition
  const int s = h >> 15, e = (h >> 10) & 31, m = h & 1023;
  double v = e == 0 ? std::ldexp(m, -24) : std::ldexp(1024 + m, e - 25);
  return s ? -v : v;
}

}  // namespace

TEST_CASE("type table matches the ggml block sizes", "[unit]") {
  CHECK(type_info(GgmlType::F32).type_size == 4);
  CHECK(type_info(GgmlType::F16).type_size == 2);
  CHECK(type_info(GgmlType::BF16).type_size == 2);
  CHECK((type_info(GgmlType::Q4_0).block_size == 32 && type_info(GgmlType::Q4_0).type_size == 18));
  CHECK((type_info(GgmlType::Q4_1).block_size == 32 && type_info(GgmlType::Q4_1).type_size == 20));
  CHECK(type_info(GgmlType::Q5_0).type_size == 22);
  CHECK(type_info(GgmlType::Q5_1).type_size == 24);
  CHECK(type_info(GgmlType::Q8_0).type_size == 34);
  CHECK((type_info(GgmlType::Q2_K).block_size == 256 && type_info(GgmlType::Q2_K).type_size == 84));
  CHECK(type_info(GgmlType::Q3_K).type_size == 110);
  CHECK(type_info(GgmlType::Q4_K).type_size == 144);
  CHECK(type_info(GgmlType::Q5_K).type_size == 176);
  CHECK(type_info(GgmlType::Q6_K).type_size == 210);
  CHECK(type_info(GgmlType::Q8_K).type_size == 292);
  CHECK(std::string(type_name(GgmlType::Q6_K)) == "Q6_K");
  CHECK(find_type_info(4) == nullptr);   // removed Q4_2
  CHECK(find_type_info(31) == nullptr);  // removed Q4_0_4_4
  CHECK(find_type_info(1000) == nullptr);
  CHECK(bytes_for(GgmlType::Q4_K, 512) == 288);
  CHECK_THROWS_AS(bytes_for(GgmlType::Q4_K, 100), mtk::Error);
  CHECK_THROWS_AS(bytes_for(GgmlType::F32, ~0ull), mtk::Error);
}

TEST_CASE("fp16 and bf16 conversions are exact", "[unit]") {
  CHECK(fp16_to_fp32(0x0000) == 0.0f);
  CHECK(std::signbit(fp16_to_fp32(0x8000)));
  CHECK(fp16_to_fp32(H_ONE) == 1.0f);
  CHECK(fp16_to_fp32(H_M_HALF) == -0.5f);
  CHECK(fp16_to_fp32(0x3555) == 0.333251953125f);
  CHECK(fp16_to_fp32(0x7BFF) == 65504.0f);
  CHECK(fp16_to_fp32(0x0001) == std::ldexp(1.0f, -24));  // smallest subnormal
  CHECK(fp16_to_fp32(0x03FF) == std::ldexp(1023.0f, -24));
  CHECK(std::isinf(fp16_to_fp32(0x7C00)));
  CHECK(fp16_to_fp32(0xFC00) < 0);
  CHECK(std::isnan(fp16_to_fp32(0x7E00)));
  for (uint32_t h = 0; h < 65536; ++h) {
    const float f = fp16_to_fp32(static_cast<uint16_t>(h));
    if (((h >> 10) & 31) == 31) continue;
    if (static_cast<double>(f) != h2d(static_cast<uint16_t>(h))) FAIL("half " << h);
  }
  CHECK(bf16_to_fp32(0x3F80) == 1.0f);
  CHECK(bf16_to_fp32(0xC040) == -3.0f);

  Bytes b;
  b.u16(H_TWO);
  b.u16(0xC500);  // -5
  auto y = run(GgmlType::F16, b, 2);
  CHECK(y == std::vector<float>{2.0f, -5.0f});
  Bytes c;
  c.u16(0x4049);  // bf16 of 3.140625
  c.u16(0xBF00);  // -0.5
  y = run(GgmlType::BF16, c, 2);
  CHECK(y == std::vector<float>{3.140625f, -0.5f});
  Bytes d;
  d.f32(1.5f);
  d.f32(-7.25f);
  y = run(GgmlType::F32, d, 2);
  CHECK(y == std::vector<float>{1.5f, -7.25f});
}

TEST_CASE("Q4_0: low nibbles are the first half, high nibbles the second, minus 8", "[unit]") {
  Bytes b;
  b.u16(H_HALF);
  for (int j = 0; j < 16; ++j) b.u8(static_cast<uint8_t>((j << 4) | (15 - j)));  // low 15-j, high j
  const auto y = run(GgmlType::Q4_0, b, 32);
  CHECK(y[0] == 3.5f);    // (15-8)*0.5
  CHECK(y[15] == -4.0f);  // (0-8)*0.5
  CHECK(y[16] == -4.0f);  // high nibble of qs[0] = 0
  CHECK(y[31] == 3.5f);
  for (int j = 0; j < 16; ++j) {
    CHECK(y[j] == 0.5f * ((15 - j) - 8));
    CHECK(y[16 + j] == 0.5f * (j - 8));
  }
}

TEST_CASE("Q4_1: q*d + m", "[unit]") {
  Bytes b;
  b.u16(H_QUARTER);
  b.u16(H_M_HALF);
  for (int j = 0; j < 16; ++j) b.u8(static_cast<uint8_t>((j << 4) | (15 - j)));
  const auto y = run(GgmlType::Q4_1, b, 32);
  CHECK(y[0] == 15 * 0.25f - 0.5f);
  CHECK(y[16] == -0.5f);
  for (int j = 0; j < 16; ++j) {
    CHECK(y[j] == 0.25f * (15 - j) - 0.5f);
    CHECK(y[16 + j] == 0.25f * j - 0.5f);
  }
}

TEST_CASE("Q5_0 and Q5_1: bit j of qh is bit 4 of element j", "[unit]") {
  const uint32_t qh = 0x8000'0001u | (1u << 17);  // elements 0, 17 and 31 get bit 4
  Bytes b;
  b.u16(H_ONE);
  b.u32(qh);
  for (int j = 0; j < 16; ++j) b.u8(static_cast<uint8_t>((j << 4) | j));
  auto y = run(GgmlType::Q5_0, b, 32);
  CHECK(y[0] == 0.0f);    // 0 | 16 - 16
  CHECK(y[1] == -15.0f);  // 1 - 16
  CHECK(y[17] == 1.0f);   // 1 | 16 - 16
  CHECK(y[31] == 15.0f);  // 15 | 16 - 16
  for (int e = 0; e < 32; ++e) {
    const int q = (e % 16) | (((qh >> e) & 1) << 4);
    CHECK(y[e] == static_cast<float>(q - 16));
  }
  Bytes c;
  c.u16(H_HALF);
  c.u16(H_TWO);
  c.u32(qh);
  for (int j = 0; j < 16; ++j) c.u8(static_cast<uint8_t>((j << 4) | j));
  y = run(GgmlType::Q5_1, c, 32);
  CHECK(y[0] == 16 * 0.5f + 2.0f);
  CHECK(y[1] == 1 * 0.5f + 2.0f);
  for (int e = 0; e < 32; ++e) {
    const int q = (e % 16) | (((qh >> e) & 1) << 4);
    CHECK(y[e] == q * 0.5f + 2.0f);
  }
}

TEST_CASE("Q8_0: signed bytes times d, over several blocks", "[unit]") {
  Bytes b;
  for (int blk = 0; blk < 3; ++blk) {
    b.u16(blk == 1 ? H_M_HALF : H_TWO);
    for (int j = 0; j < 32; ++j) b.u8(static_cast<uint8_t>(static_cast<int8_t>(j * 8 - 128)));
  }
  const auto y = run(GgmlType::Q8_0, b, 96);
  CHECK(y[0] == -256.0f);
  CHECK(y[31] == 2.0f * 120);
  CHECK(y[32] == 64.0f);
  for (int e = 0; e < 96; ++e) CHECK(y[e] == (e / 32 == 1 ? -0.5f : 2.0f) * ((e % 32) * 8 - 128));
}

TEST_CASE("Q2_K: 2-bit values, 4-bit scale and min per 16", "[unit]") {
  uint32_t st = 7;
  Bytes b;
  b.fill(16 + 64, st);  // scales, qs
  b.u16(H_QUARTER);     // d
  b.u16(H_SIXTEENTH);   // dmin
  const uint8_t* sc = b.b.data();
  const uint8_t* qs = b.b.data() + 16;
  const auto y = run(GgmlType::Q2_K, b, 256);
  for (int e = 0; e < 256; ++e) {
    const int h = e / 128, p = (e % 128) / 32, l = e % 32, s = e / 16;
    const int q = (qs[32 * h + l] >> (2 * p)) & 3;
    const double x = 0.25 * (sc[s] & 15) * q - 0.0625 * (sc[s] >> 4);
    CHECK(y[e] == static_cast<float>(x));
  }
}

TEST_CASE("Q3_K: 2 low bits, inverted high-bit mask, 6-bit signed scales", "[unit]") {
  uint32_t st = 11;
  Bytes b;
  b.fill(32 + 64 + 12, st);  // hmask, qs, scales
  b.u16(H_HALF);
  const uint8_t* hm = b.b.data();
  const uint8_t* qs = b.b.data() + 32;
  const uint8_t* sc = b.b.data() + 96;
  const auto y = run(GgmlType::Q3_K, b, 256);
  for (int e = 0; e < 256; ++e) {
    const int h = e / 128, p = (e % 128) / 32, l = e % 32, s = e / 16;
    const int low = (qs[32 * h + l] >> (2 * p)) & 3;
    const int q = low - (((hm[l] >> (e / 32)) & 1) ? 0 : 4);
    const int scale = (((sc[s % 8] >> (4 * (s / 8))) & 15) | (((sc[8 + s % 4] >> (2 * (s / 4))) & 3) << 4)) - 32;
    CHECK(y[e] == static_cast<float>(0.5 * scale * q));
  }
  // A literal case: all scale bytes 0 -> scale -32; hmask all set, qs all 0b11 -> q = 3.
  Bytes c;
  for (int k = 0; k < 32; ++k) c.u8(0xff);
  for (int k = 0; k < 64; ++k) c.u8(0xff);
  for (int k = 0; k < 12; ++k) c.u8(0x00);
  c.u16(H_ONE);
  const auto z = run(GgmlType::Q3_K, c, 256);
  for (float v : z) CHECK(v == -96.0f);
}

namespace {
// The 6-bit scale and min of sub-block j of a K-quant, per the packing description.
void k_scale_min(const uint8_t* s, int j, int& sc, int& m) {
  if (j < 4) {
    sc = s[j] & 63;
    m = s[j + 4] & 63;
  } else {
    sc = (s[j + 4] & 15) | ((s[j - 4] >> 6) << 4);
    m = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
  }
}
}  // namespace

TEST_CASE("Q4_K: packed 6-bit scales and mins, nibble halves per 64", "[unit]") {
  SECTION("literal") {
    Bytes b;
    b.u16(H_ONE);   // d
    b.u16(H_HALF);  // dmin
    // Sub-block 0: scale 2, min 4 (bytes 0 and 4). Sub-block 5: low bits in byte 9 (scale 0xA,
    // min 0x1), high bits in the top two bits of bytes 1 (scale: 0b10) and 5 (min: 0b01), so
    // scale = 0x20 | 0xA = 42 and min = 0x10 | 0x1 = 17; sub-block 1 stays 0 (its 6 low bits are 0).
    const uint8_t sc[12] = {2, 0x80, 0, 0, 4, 0x40, 0, 0, 0, 0x1A, 0, 0};
    for (uint8_t v : sc) b.u8(v);
    for (int k = 0; k < 128; ++k) b.u8(0x73);  // low nibble 3, high nibble 7
    const auto y = run(GgmlType::Q4_K, b, 256);
    CHECK(y[0] == 1.0f * 2 * 3 - 0.5f * 4);      // sub-block 0, low nibble
    CHECK(y[32] == 0.0f);                        // sub-block 1: scale 0, min 0
    CHECK(y[160] == 1.0f * 42 * 7 - 0.5f * 17);  // element 160: chunk 2, high half -> sub-block 5
  }
  SECTION("formula") {
    uint32_t st = 3;
    Bytes b;
    b.u16(H_QUARTER);
    b.u16(H_SIXTEENTH);
    b.fill(12 + 128, st);
    const uint8_t* s = b.b.data() + 4;
    const uint8_t* qs = b.b.data() + 16;
    const auto y = run(GgmlType::Q4_K, b, 256);
    for (int e = 0; e < 256; ++e) {
      const int sb = e / 32, c = e / 64;
      const uint8_t byte = qs[32 * c + e % 32];
      const int q = (sb % 2) ? byte >> 4 : byte & 15;
      int sc, m;
      k_scale_min(s, sb, sc, m);
      CHECK(y[e] == static_cast<float>(0.25 * sc * q - 0.0625 * m));
    }
  }
}

TEST_CASE("Q5_K: Q4_K plus a high bit per element from qh", "[unit]") {
  uint32_t st = 5;
  Bytes b;
  b.u16(H_HALF);
  b.u16(H_QUARTER);
  b.fill(12 + 32 + 128, st);
  const uint8_t* s = b.b.data() + 4;
  const uint8_t* qh = b.b.data() + 16;
  const uint8_t* qs = b.b.data() + 48;
  const auto y = run(GgmlType::Q5_K, b, 256);
  for (int e = 0; e < 256; ++e) {
    const int sb = e / 32, c = e / 64;
    const uint8_t byte = qs[32 * c + e % 32];
    const int q = ((sb % 2) ? byte >> 4 : byte & 15) | (((qh[e % 32] >> sb) & 1) << 4);
    int sc, m;
    k_scale_min(s, sb, sc, m);
    CHECK(y[e] == static_cast<float>(0.5 * sc * q - 0.25 * m));
  }
}

TEST_CASE("Q6_K: 4 low bits from ql, 2 high bits from qh, signed 8-bit scales, d last", "[unit]") {
  SECTION("literal") {
    Bytes b;
    for (int k = 0; k < 128; ++k) b.u8(0x00);
    for (int k = 0; k < 64; ++k) b.u8(0x00);
    for (int k = 0; k < 16; ++k) b.u8(static_cast<uint8_t>(static_cast<int8_t>(k - 8)));
    b.u16(H_TWO);
    const auto y = run(GgmlType::Q6_K, b, 256);  // every q = -32
    for (int e = 0; e < 256; ++e) CHECK(y[e] == 2.0f * ((e / 16) - 8) * -32);
  }
  SECTION("formula") {
    uint32_t st = 9;
    Bytes b;
    b.fill(128 + 64 + 16, st);
    b.u16(H_SIXTEENTH);
    const uint8_t* ql = b.b.data();
    const uint8_t* qh = b.b.data() + 128;
    const auto* sc = reinterpret_cast<const int8_t*>(b.b.data() + 192);
    const auto y = run(GgmlType::Q6_K, b, 256);
    for (int e = 0; e < 256; ++e) {
      const int h = e / 128, g = (e % 128) / 32, l = e % 32;
      const uint8_t lb = ql[64 * h + l + (g % 2) * 32];
      const int low = g < 2 ? (lb & 15) : (lb >> 4);
      const int high = (qh[32 * h + l] >> (2 * g)) & 3;
      const int q = (low | (high << 4)) - 32;
      CHECK(y[e] == static_cast<float>(0.0625 * sc[e / 16] * q));
    }
  }
}

TEST_CASE("Q8_K: f32 scale times signed bytes", "[unit]") {
  uint32_t st = 1;
  Bytes b;
  b.f32(0.125f);
  b.fill(256 + 32, st);
  const auto y = run(GgmlType::Q8_K, b, 256);
  for (int e = 0; e < 256; ++e) CHECK(y[e] == 0.125f * static_cast<int8_t>(b.b[4 + e]));
}

TEST_CASE("dequantize rejects partial blocks and unsupported types with a clear error", "[unit]") {
  std::vector<uint8_t> buf(1024);
  std::vector<float> out(512);
  CHECK_THROWS_AS(dequantize(GgmlType::Q4_0, buf.data(), out.data(), 33), mtk::Error);
  try {
    dequantize(GgmlType::IQ2_XXS, buf.data(), out.data(), 256);
    FAIL("no error");
  } catch (const mtk::Error& e) {
    const std::string msg = e.what();
    CHECK(msg.find("IQ2_XXS") != std::string::npos);
    CHECK(msg.find("Q4_K") != std::string::npos);  // lists what is supported
    CHECK_FALSE(e.fix().empty());
  }
  CHECK_THROWS_AS(dequantize(GgmlType::I32, buf.data(), out.data(), 4), mtk::Error);
}

TEST_CASE("dequantize_rows: parallel result equals the single-threaded one", "[unit]") {
  for (GgmlType t : {GgmlType::Q4_0, GgmlType::Q4_K, GgmlType::Q6_K, GgmlType::F16}) {
    const size_t row_len = 1024, rows = 1300;  // > 1M elements: takes the parallel path
    const uint64_t nbytes = bytes_for(t, row_len * rows);
    std::vector<uint8_t> src(nbytes);
    uint32_t st = 42;
    for (auto& v : src) v = Bytes::next(st);
    if (t == GgmlType::F16)  // keep halves finite so equality is meaningful
      for (size_t k = 1; k < src.size(); k += 2) src[k] &= 0x3f;
    std::vector<float> a(row_len * rows), b(row_len * rows);
    dequantize_rows(t, src.data(), a.data(), rows, row_len, 1);
    dequantize_rows(t, src.data(), b.data(), rows, row_len, 4);
    CHECK(std::memcmp(a.data(), b.data(), a.size() * 4) == 0);
    std::vector<float> c(row_len);
    dequantize(t, src.data() + bytes_for(t, row_len) * 777, c.data(), row_len);
    CHECK(std::memcmp(c.data(), a.data() + 777 * row_len, row_len * 4) == 0);
  }
}
