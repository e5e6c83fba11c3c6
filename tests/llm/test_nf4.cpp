// NF4 (nf4.hpp): the same bytes as bitsandbytes' quantize_4bit(nf4, blocksize 64) on a fixture
// (tests/llm/fixtures/nf4: normal weights, a zero block, exact levels and the midpoints between
// them), hand-built blocks, and a tiny model quantised at load that still trains through LoRA.
#include <ATen/ATen.h>

#include <catch2/catch.hpp>
#include <cstring>
#include <filesystem>

#include "mtk/core/error.hpp"
#include "mtk/core/fs.hpp"
#include "mtk/llm/lora.hpp"
#include "mtk/llm/lora_torch.hpp"
#include "mtk/llm/model.hpp"
#include "mtk/llm/nf4.hpp"

using namespace mtk::llm;

namespace {
template <class T>
std::vector<T> read_bin(const std::string& name) {
  const std::string s = mtk::fs::read_file(mtk::fs::project_root() / "tests/llm/fixtures/nf4" / name);
  std::vector<T> v(s.size() / sizeof(T));
  std::memcpy(v.data(), s.data(), v.size() * sizeof(T));
  return v;
}
}  // namespace

TEST_CASE("NF4 stores what bitsandbytes stores (fixture)", "[nf4]") {
  auto w = read_bin<float>("weights.bin");
  const auto packed = read_bin<uint8_t>("packed.bin");
  const auto absmax = read_bin<float>("absmax.bin");
  const auto deq = read_bin<float>("dequant.bin");
  REQUIRE(w.size() == 8 * 192);
  const at::Tensor t = at::from_blob(w.data(), {8, 192}, at::kFloat);
  const Nf4Blocks q = nf4_quantize(t);
  REQUIRE(q.packed.numel() == static_cast<int64_t>(packed.size()));
  REQUIRE(q.absmax.numel() == static_cast<int64_t>(absmax.size()));
  int bad_bytes = 0;
  for (size_t i = 0; i < packed.size(); ++i) bad_bytes += q.packed.data_ptr<uint8_t>()[i] != packed[i];
  CHECK(bad_bytes == 0);
  for (size_t i = 0; i < absmax.size(); ++i) CHECK(q.absmax.data_ptr<float>()[i] == absmax[i]);
  const at::Tensor d = nf4_dequantize(q, 8, 192);
  double worst = 0;
  for (size_t i = 0; i < deq.size(); ++i) worst = std::max(worst, std::abs(static_cast<double>(d.data_ptr<float>()[i]) - deq[i]));
  CHECK(worst == 0.0);
}

TEST_CASE("NF4 hand-built blocks: levels, ties, zeros, nibble order", "[nf4]") {
  const auto& lv = nf4_levels();
  std::vector<float> v(128, 0.0f);
  for (int i = 0; i < 64; ++i) v[static_cast<size_t>(i)] = 3.0f * lv[static_cast<size_t>(i % 16)];
  // Second block: all zeros.
  const at::Tensor t = at::from_blob(v.data(), {2, 64}, at::kFloat);
  const Nf4Blocks q = nf4_quantize(t);
  CHECK(q.absmax[0].item<float>() == 3.0f);
  CHECK(q.absmax[1].item<float>() == 0.0f);
  const uint8_t* p = q.packed.data_ptr<uint8_t>();
  CHECK(p[0] == (0 << 4 | 1));    // levels 0 and 1: the first value in the high nibble
  CHECK(p[7] == (14 << 4 | 15));
  CHECK(p[32] == (7 << 4 | 7));   // zeros take the zero level
  const at::Tensor d = nf4_dequantize(q, 2, 64);
  for (int i = 0; i < 64; ++i) CHECK(d[0][i].item<float>() == 3.0f * lv[static_cast<size_t>(i % 16)]);
  CHECK(d[1].abs().sum().item<float>() == 0.0f);
  // Exactly between two levels: the lower one; a little above: the upper one.
  std::vector<float> tie(64, 0.0f);
  tie[0] = 1.0f;  // absmax
  tie[1] = static_cast<float>((static_cast<double>(lv[8]) + lv[9]) / 2);
  tie[2] = std::nextafter(tie[1], 1.0f);
  const Nf4Blocks qt = nf4_quantize(at::from_blob(tie.data(), {1, 64}, at::kFloat));
  CHECK((qt.packed.data_ptr<uint8_t>()[0] & 15) == 8);
  CHECK((qt.packed.data_ptr<uint8_t>()[1] >> 4) == 9);
  CHECK_THROWS_AS(nf4_quantize(at::zeros({3, 7})), mtk::Error);
}

TEST_CASE("a model quantised to NF4 at load: close logits, LoRA gradients flow", "[nf4]") {
  const std::string dir = (mtk::fs::project_root() / "tests/llm/fixtures/hf/llama").string();
  auto dense = Model::load(dir);
  LoadOptions o;
  o.quantize = "nf4";
  auto q = Model::load(dir, o);
  const Weight& w = q->weights().layers[0].q;
  REQUIRE(w.nf4_packed.defined());
  CHECK_FALSE(w.dense.defined());
  CHECK(w.nf4_packed.numel() * 2 == w.numel());
  const at::Tensor toks = at::tensor(std::vector<int64_t>{1, 17, 33, 5, 99, 64, 12, 7}, at::kLong).view({1, -1});
  at::Tensor a, b;
  {
    at::NoGradGuard ng;
    a = dense->forward(toks, nullptr);
    b = q->forward(toks, nullptr);
  }
  CHECK((a - b).abs().max().item<double>() > 0);  // really quantised
  auto set = LoraSet::create(*q, LoraConfig{}, 3);
  q->set_adapter(set);
  const at::Tensor logits = q->forward(toks, nullptr).squeeze(0);
  at::cross_entropy_loss(logits.narrow(0, 0, 7), toks.squeeze(0).narrow(0, 1, 7)).backward();
  int with_grad = 0;
  for (const auto& p : lora_parameters(*set)) with_grad += p.grad().defined() && p.grad().abs().sum().item<double>() > 0;
  CHECK(with_grad > 0);
  LoadOptions bad;
  bad.quantize = "int3";
  CHECK_THROWS_WITH(Model::load(dir, bad), Catch::Contains("unknown quantisation"));
}

TEST_CASE("SmolLM2 with NF4 projections stays close to its float32 self", "[nf4]") {
  // The GGUF's Q4_1 blocks dequantised, then the projections re-quantised to NF4 (as a QLoRA base).
  const std::string path = (mtk::fs::project_root() / "models/SmolLM2-135M-Instruct.Q4_1.gguf").string();
  REQUIRE(std::filesystem::exists(path));
  LoadOptions plain, o;
  plain.keep_quantized = false;
  o.quantize = "nf4";
  auto a_m = Model::load(path, plain);
  auto b_m = Model::load(path, o);
  const at::Tensor toks =
      at::tensor(std::vector<int64_t>{504, 2291, 28, 18, 3523, 314, 1056, 30, 216, 17, 99, 1000}, at::kLong).view({1, -1});
  at::NoGradGuard ng;
  const at::Tensor a = a_m->forward(toks, nullptr).squeeze(0), b = b_m->forward(toks, nullptr).squeeze(0);
  const at::Tensor ac = a - a.mean(1, true), bc = b - b.mean(1, true);
  const double cos = ((ac * bc).sum() / (ac.norm() * bc.norm())).item<double>();
  const double agree = (a.argmax(1) == b.argmax(1)).to(at::kDouble).mean().item<double>();
  WARN("SmolLM2 NF4 vs float32: cosine of centred logits " << cos << ", top-1 agreement " << agree);
  // Measured: cosine 0.945, top-1 agreement 7/12 (4-bit blocks on a 135M model lose that much;
  // the bytes themselves are bitsandbytes', see the fixture test).
  CHECK(cos > 0.9);
  CHECK(agree >= 0.5);
}
