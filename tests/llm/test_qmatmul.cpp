// qmatmul (block-quantised weights x float activations) against dequantize() followed by a float64
// matrix product: random blocks of every supported type, 1..19 activation rows (every kernel
// width and a remainder), the SIMD path against the scalar reference, and the real SmolLM2 Q4_1
// and Q8_0 matrices.
#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "mtk/llm/gguf.hpp"
#include "mtk/llm/qmatmul.hpp"
#include "mtk/llm/quant.hpp"
#include "peer.hpp"

using namespace mtk::llm;

namespace {

// Random blocks with valid (finite, moderate) fp16 scales.
std::vector<uint8_t> random_blocks(GgmlType t, int64_t out, int64_t in, std::mt19937& rng) {
  const size_t bytes = bytes_for(t, static_cast<uint64_t>(out * in));
  std::vector<uint8_t> b(bytes);
  std::uniform_int_distribution<int> byte(0, 255);
  for (auto& v : b) v = static_cast<uint8_t>(byte(rng));
  const size_t bb = type_info(t).type_size;
  std::uniform_int_distribution<int> mant(0, 1023);
  for (size_t off = 0; off < bytes; off += bb) {
    // exponent 10..14 (scales 2^-5 .. 2^-1), random sign and mantissa
    for (int h = 0; h < (t == GgmlType::Q4_1 ? 2 : 1); ++h) {
      const uint16_t v = static_cast<uint16_t>((byte(rng) & 1) << 15 | (10 + byte(rng) % 5) << 10 | mant(rng));
      std::memcpy(&b[off + 2 * h], &v, 2);
    }
  }
  return b;
}

void check_against_dequantized(GgmlType t, const uint8_t* w, int64_t out, int64_t in, int64_t rows, std::mt19937& rng) {
  std::vector<float> dense(static_cast<size_t>(out * in));
  dequantize_rows(t, w, dense.data(), static_cast<size_t>(out), static_cast<size_t>(in), 1);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  std::vector<float> x(static_cast<size_t>(rows * in));
  for (auto& v : x) v = nd(rng);
  std::vector<float> y(static_cast<size_t>(rows * out)), yr(y.size());
  qmatmul(t, w, out, in, x.data(), rows, y.data());
  qmatmul_reference(t, w, out, in, x.data(), rows, yr.data());
  double worst = 0;
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t o = 0; o < out; ++o) {
      double want = 0, mag = 0;
      for (int64_t i = 0; i < in; ++i) {
        const double p = static_cast<double>(dense[o * in + i]) * x[r * in + i];
        want += p;
        mag += std::abs(p);
      }
      const double got = y[r * out + o], ref = yr[r * out + o];
      // float32 sums of `in` terms: error bounded by a few ulps of the magnitude sum
      const double tol = 1e-5 * mag + 1e-6;
      worst = std::max(worst, std::abs(got - want) / (mag + 1e-30));
      INFO(type_name(t) << " rows " << rows << " r " << r << " o " << o);
      REQUIRE(std::abs(got - want) <= tol);
      REQUIRE(std::abs(ref - want) <= tol);
    }
}

}  // namespace

TEST_CASE("qmatmul matches dequantise-then-multiply on random blocks", "[qmatmul]") {
  std::mt19937 rng(42);
  for (GgmlType t : {GgmlType::Q4_0, GgmlType::Q4_1, GgmlType::Q8_0}) {
    REQUIRE(qmatmul_supported(t));
    const int64_t out = 37, in = 96;
    const auto w = random_blocks(t, out, in, rng);
    for (int64_t rows : {1, 2, 3, 5, 8, 9, 16, 19}) check_against_dequantized(t, w.data(), out, in, rows, rng);
  }
  CHECK_FALSE(qmatmul_supported(GgmlType::Q4_K));
  CHECK_FALSE(qmatmul_supported(GgmlType::F32));
}

TEST_CASE("qmatmul on SmolLM2's Q4_1 and Q8_0 matrices", "[qmatmul]") {
  const GgufFile f = GgufFile::open(mtk::test::smollm2_path().string());
  std::mt19937 rng(7);
  for (const char* name : {"blk.0.attn_q.weight", "blk.3.ffn_down.weight"}) {
    const GgufTensor& t = f.tensor(name);
    REQUIRE(t.type == GgmlType::Q4_1);
    check_against_dequantized(t.type, t.data, 64, static_cast<int64_t>(t.row_length()), 3, rng);  // first 64 rows
  }
  const GgufTensor& e = f.tensor("token_embd.weight");
  REQUIRE(e.type == GgmlType::Q8_0);
  check_against_dequantized(e.type, e.data, 128, static_cast<int64_t>(e.row_length()), 8, rng);
}
