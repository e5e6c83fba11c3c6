// LoRA (lora.hpp): gradients of the adapter through the whole model against central finite
// differences in float64 on the tiny random Llama fixture; the frozen quantised base's on-the-fly
// backward against a dense matmul on SmolLM2's real Q4_1 blocks; a fresh adapter (B = 0) leaves
// the logits bit-identical; peft export/import round trip; a peft adapter made by transformers +
// peft for SmolLM2 gives their logits on our GGUF model (q/k rows of GGUF llama bases permuted).
#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>
#include <nlohmann/json.hpp>
#include <random>

#include "mtk/core/error.hpp"
#include "mtk/core/fs.hpp"
#include "mtk/llm/generate.hpp"
#include "mtk/llm/lora.hpp"
#include "mtk/llm/lora_torch.hpp"
#include "mtk/llm/model.hpp"
#include "peer.hpp"

using namespace mtk::llm;

namespace {

std::unique_ptr<Model> tiny_llama_f64() {
  auto m = Model::load((mtk::fs::project_root() / "tests/llm/fixtures/hf/llama").string());
  ModelWeights& w = m->weights();
  auto to64 = [](at::Tensor& t) {
    if (t.defined()) t = t.to(at::kDouble);
  };
  to64(w.embed.dense);
  to64(w.output.dense);
  to64(w.output_norm);
  for (auto& L : w.layers) {
    for (at::Tensor* t : {&L.attn_norm, &L.q_bias, &L.k_bias, &L.v_bias, &L.o_bias, &L.q_norm, &L.k_norm,
                          &L.post_attn_norm, &L.ffn_norm, &L.post_ffw_norm})
      to64(*t);
    for (Weight* x : {&L.q, &L.k, &L.v, &L.o, &L.gate, &L.up, &L.down}) to64(x->dense);
  }
  return m;
}

// Cross-entropy of next-token prediction on a fixed sequence.
at::Tensor loss_of(const Model& m, const at::Tensor& toks) {
  const at::Tensor h = m.forward_hidden(toks);
  const int64_t n = toks.size(1);
  const at::Tensor logits = m.output_logits(h.narrow(1, 0, n - 1)).squeeze(0);
  return at::cross_entropy_loss(logits, toks.narrow(1, 1, n - 1).squeeze(0));
}

}  // namespace

TEST_CASE("LoRA gradients match finite differences (float64, tiny Llama)", "[lora]") {
  auto m = tiny_llama_f64();
  REQUIRE(m->dtype() == at::kDouble);
  auto set = LoraSet::create(*m, LoraConfig{}, 7);
  // B starts at zero; give it random values so that every gradient is exercised.
  {
    at::NoGradGuard ng;
    std::mt19937_64 rng(3);
    std::normal_distribution<double> nd(0.0, 0.1);
    for (auto& t : lora_parameters(*set)) {
      double* p = t.data_ptr<double>();
      for (int64_t i = 0; i < t.numel(); ++i) p[i] += nd(rng);
    }
  }
  m->set_adapter(set);
  const at::Tensor toks = at::tensor(std::vector<int64_t>{1, 17, 33, 5, 99, 64, 12, 7, 120, 3}, at::kLong).view({1, -1});
  auto params = lora_parameters(*set);
  REQUIRE(params.size() == 2 * 7 * 2);
  for (auto& p : params) p.mutable_grad() = at::Tensor();
  at::Tensor loss = loss_of(*m, toks);
  loss.backward();
  std::mt19937_64 rng(11);
  double worst = 0.0;
  int checked = 0;
  for (auto& p : params) {
    REQUIRE(p.grad().defined());
    at::Tensor g = p.grad();
    for (int s = 0; s < 3; ++s) {
      const int64_t idx = static_cast<int64_t>(rng() % static_cast<uint64_t>(p.numel()));
      double* v = p.data_ptr<double>() + idx;
      const double keep = *v, eps = 1e-6;
      double lp, lm;
      {
        at::NoGradGuard ng;
        *v = keep + eps;
        lp = loss_of(*m, toks).item<double>();
        *v = keep - eps;
        lm = loss_of(*m, toks).item<double>();
        *v = keep;
      }
      const double fd = (lp - lm) / (2 * eps);
      const double an = g.data_ptr<double>()[idx];
      const double err = std::abs(fd - an) / std::max(1e-6, std::abs(fd) + std::abs(an));
      INFO("analytic " << an << " finite difference " << fd);
      CHECK(err < 1e-5);
      worst = std::max(worst, err);
      ++checked;
    }
  }
  INFO("worst relative error " << worst << " over " << checked << " entries");
  CHECK(checked == 84);
  // The base received no gradient.
  CHECK_FALSE(m->weights().layers[0].q.dense.requires_grad());
}

TEST_CASE("frozen quantised linear: on-the-fly backward equals the dense product (SmolLM2 Q4_1)", "[lora]") {
  auto m = Model::load(mtk::test::smollm2_path().string());
  const Weight& w = m->weights().layers[3].gate;
  REQUIRE(w.blocks != nullptr);
  REQUIRE_FALSE(w.dense.defined());
  at::manual_seed(5);
  const at::Tensor x0 = at::randn({1, 40, w.in});
  const at::Tensor gy = at::randn({1, 40, w.out});
  at::Tensor x = x0.clone().requires_grad_(true);
  at::Tensor y = frozen_linear(w, x, {});
  y.backward(gy);
  const at::Tensor W = w.dequantized().to(at::kDouble);
  const at::Tensor y_ref = at::linear(x0.to(at::kDouble), W);
  const at::Tensor dx_ref = at::matmul(gy.to(at::kDouble), W);
  const double ey = (y.to(at::kDouble) - y_ref).abs().max().item<double>() / y_ref.abs().max().item<double>();
  const double ex = (x.grad().to(at::kDouble) - dx_ref).abs().max().item<double>() / dx_ref.abs().max().item<double>();
  INFO("relative error forward " << ey << " backward " << ex);
  CHECK(ey < 1e-5);
  CHECK(ex < 1e-5);
}

TEST_CASE("a fresh adapter leaves logits bit-identical; peft export round trip", "[lora]") {
  auto m = Model::load(mtk::test::smollm2_path().string());
  const at::Tensor toks = at::tensor(std::vector<int64_t>{1, 504, 2291, 28, 18, 3523, 314, 1056, 30, 216,
                                                          17, 99, 1000, 5000, 42, 7, 8, 9, 10, 11},
                                     at::kLong)
                              .view({1, -1});
  at::Tensor base;
  {
    c10::InferenceMode g;
    base = m->forward(toks, nullptr);
  }
  auto set = LoraSet::create(*m, LoraConfig{}, 1);
  CHECK(set->parameter_count() == 30 * (8 * (576 + 576) + 8 * (576 + 192) * 2 + 8 * (576 + 576) +
                                        8 * (576 + 1536) * 3));
  m->set_adapter(set);
  {
    c10::InferenceMode g;
    const at::Tensor with = m->forward(toks, nullptr);
    CHECK(at::equal(with, base));
  }
  // Give B values, export, reload: same logits. q/k of this GGUF llama are row-permuted on export.
  {
    at::NoGradGuard ng;
    at::manual_seed(9);
    for (auto& t : lora_parameters(*set)) t.add_(at::randn_like(t) * 0.01);
  }
  at::Tensor trained;
  {
    c10::InferenceMode g;
    trained = m->forward(toks, nullptr);
  }
  CHECK_FALSE(at::equal(trained, base));
  const auto dir = mtk::fs::make_temp_dir(std::filesystem::temp_directory_path(), "mtk-lora-");
  set->save_peft(dir.string(), "HuggingFaceTB/SmolLM2-135M-Instruct");
  auto back = LoraSet::load_peft(dir.string(), *m);
  const auto p1 = lora_parameters(*set), p2 = lora_parameters(*back);
  REQUIRE(p1.size() == p2.size());
  for (size_t i = 0; i < p1.size(); ++i) CHECK(at::equal(p1[i].detach(), p2[i]));
  const std::string cfg = mtk::fs::read_file(dir / "adapter_config.json");
  CHECK(cfg.find("\"peft_type\": \"LORA\"") != std::string::npos);
  std::filesystem::remove_all(dir);
}

TEST_CASE("a peft adapter for SmolLM2 gives transformers + peft's logits on our GGUF model", "[lora][parity]") {
  // tests/train/make_peft_gguf_fixture.py: transformers loads the same GGUF (dequantised) and peft
  // applies a random r=2 adapter on q/k/v; GGUF stores q/k rows permuted, Hugging Face does not.
  const auto fix = mtk::fs::project_root() / "tests/train/fixtures/peft_smollm2";
  const auto exp = nlohmann::json::parse(mtk::fs::read_file(fix / "expected.json"));
  const std::string bin = mtk::fs::read_file(fix / "adapted_logits.bin");
  std::vector<float> want(bin.size() / 4);
  std::memcpy(want.data(), bin.data(), bin.size());
  auto lm = LanguageModel::load(mtk::test::smollm2_path().string());
  const std::vector<int64_t> ids = exp["ids"].get<std::vector<int64_t>>();
  const at::Tensor toks = at::tensor(ids, at::kLong).view({1, -1});
  c10::InferenceMode g;
  const at::Tensor base = lm->model().forward(toks, nullptr, true).view({-1});
  lm->load_adapter(fix.string() + "/adapter");
  REQUIRE(lm->model().adapter() != nullptr);
  const at::Tensor ours = lm->model().forward(toks, nullptr, true).view({-1});
  REQUIRE(ours.numel() == static_cast<int64_t>(want.size()));
  const at::Tensor ref = at::from_blob(want.data(), {static_cast<int64_t>(want.size())}, at::kFloat);
  const double diff = (ours - ref).abs().max().item<double>();
  const double change = (ours - base).abs().max().item<double>();
  INFO("max |ours - peft| = " << diff << ", the adapter moves logits by up to " << change);
  CHECK(change > 1.0);
  CHECK(diff < 1e-3);
  lm->load_adapter("");
  CHECK(lm->model().adapter() == nullptr);
  CHECK(at::equal(lm->model().forward(toks, nullptr, true).view({-1}), base));
}

TEST_CASE("the GGUF LoRA export loads in llama.cpp and moves its logits as ours", "[lora][llamacpp][parity]") {
  // The peft fixture adapter (transformers + peft, r=2 on q/k/v) loaded by us, exported as a llama.cpp
  // LoRA GGUF, read back exactly, then applied by llama.cpp (llama_adapter_lora_init) to the same
  // SmolLM2 Q4_1 file. llama.cpp quantises activations to 8 bits, so its logits differ from ours by
  // the base parity gap (test_llamacpp_parity.cpp); the adapter's effect on them must match ours.
  mtk::test::require_python_modules("llama_cpp, numpy");
  const auto fix = mtk::fs::project_root() / "tests/train/fixtures/peft_smollm2";
  const auto exp = nlohmann::json::parse(mtk::fs::read_file(fix / "expected.json"));
  const std::string model_path = mtk::test::smollm2_path().string();
  auto lm = LanguageModel::load(model_path);
  const std::vector<int64_t> ids = exp["ids"].get<std::vector<int64_t>>();
  const at::Tensor toks = at::tensor(ids, at::kLong).view({1, -1});
  c10::InferenceMode g;
  const at::Tensor base = lm->model().forward(toks, nullptr, true).view({-1});
  lm->load_adapter(fix.string() + "/adapter");
  const at::Tensor adapted = lm->model().forward(toks, nullptr, true).view({-1});

  const auto dir = mtk::fs::make_temp_dir(std::filesystem::temp_directory_path(), "mtk-lora-gguf-");
  const std::string gguf = (dir / "adapter.gguf").string();
  lm->model().adapter()->save_gguf(gguf);
  {  // exact round trip through our reader, and the same logits
    auto back = LoraSet::load_gguf(gguf, lm->model());
    CHECK(back->config().r == 2);
    CHECK(back->config().alpha == lm->model().adapter()->config().alpha);
    const auto p1 = lora_parameters(*lm->model().adapter()), p2 = lora_parameters(*back);
    REQUIRE(p1.size() == p2.size());
    for (size_t i = 0; i < p1.size(); ++i) CHECK(at::equal(p1[i], p2[i]));
    lm->load_adapter(gguf);
    CHECK(at::equal(lm->model().forward(toks, nullptr, true).view({-1}), adapted));
  }

  const std::vector<std::vector<int64_t>> prompts = {ids};
  const auto t_base = mtk::test::run_peer_json("llamacpp_eval.py", "logits " + mtk::test::quote(model_path), prompts);
  const auto t_lora = mtk::test::run_peer_json(
      "llamacpp_eval.py", "logits " + mtk::test::quote(model_path) + " --lora " + mtk::test::quote(gguf), prompts);
  const std::vector<float> tb = t_base[0].get<std::vector<float>>(), tl = t_lora[0].get<std::vector<float>>();
  REQUIRE(static_cast<int64_t>(tb.size()) >= base.numel());
  const int64_t n = base.numel();
  const float* ob = base.data_ptr<float>();
  const float* oa = adapted.data_ptr<float>();
  double ours_change = 0, their_change = 0, effect_gap = 0, dot = 0, n1 = 0, n2 = 0, level_gap = 0;
  for (int64_t k = 0; k < n; ++k) {
    const double d_ours = oa[k] - ob[k], d_theirs = tl[static_cast<size_t>(k)] - tb[static_cast<size_t>(k)];
    ours_change = std::max(ours_change, std::abs(d_ours));
    their_change = std::max(their_change, std::abs(d_theirs));
    effect_gap = std::max(effect_gap, std::abs(d_ours - d_theirs));
    level_gap = std::max(level_gap, std::abs(static_cast<double>(oa[k]) - tl[static_cast<size_t>(k)]));
    dot += d_ours * d_theirs;
    n1 += d_ours * d_ours;
    n2 += d_theirs * d_theirs;
  }
  const double corr = dot / std::sqrt(n1 * n2);
  WARN("LoRA GGUF in llama.cpp: the adapter moves logits by up to " << ours_change << " (ours) / " << their_change
                                                                    << " (llama.cpp); max |effect gap| " << effect_gap
                                                                    << ", cosine of the effects " << corr
                                                                    << ", max |adapted logits ours - llama.cpp| "
                                                                    << level_gap);
  CHECK(ours_change > 1.0);
  CHECK(their_change > 0.5 * ours_change);  // llama.cpp applied it (a missing adapter moves nothing)
  CHECK(corr > 0.99);
  CHECK(level_gap < 1.5);  // the base parity bound of test_llamacpp_parity.cpp
  std::filesystem::remove_all(dir);
}

TEST_CASE("LoRA GGUF import: clear errors for files that are not adapters for this base", "[lora]") {
  auto m = Model::load(mtk::test::smollm2_path().string());
  const auto dir = mtk::fs::make_temp_dir(std::filesystem::temp_directory_path(), "mtk-lora-bad-");
  // The base model itself is a GGUF but no adapter.
  try {
    (void)LoraSet::load(mtk::test::smollm2_path().string(), *m);
    FAIL("a base model was accepted as an adapter");
  } catch (const mtk::Error& e) {
    CHECK(std::string(e.what()).find("is not a LoRA adapter") != std::string::npos);
  }
  // An adapter for another architecture.
  auto set = LoraSet::create(*m, LoraConfig{}, 3);
  set->impl().arch = "qwen2";
  set->save_gguf((dir / "qwen.gguf").string());
  try {
    (void)LoraSet::load((dir / "qwen.gguf").string(), *m);
    FAIL("an adapter for another architecture was accepted");
  } catch (const mtk::Error& e) {
    CHECK(std::string(e.what()).find("for a qwen2 model") != std::string::npos);
  }
  try {
    (void)LoraSet::load((dir / "missing.gguf").string(), *m);
    FAIL("a missing adapter was accepted");
  } catch (const mtk::Error& e) {
    CHECK(std::string(e.what()).find("does not exist") != std::string::npos);
  }
  std::filesystem::remove_all(dir);
}

TEST_CASE("gradient checkpointing gives the same loss and LoRA gradients (float64, tiny Llama)", "[lora][ckpt]") {
  auto m = tiny_llama_f64();
  auto set = LoraSet::create(*m, LoraConfig{}, 7);
  {
    at::NoGradGuard ng;
    at::manual_seed(4);
    for (auto& t : lora_parameters(*set)) t.add_(at::randn_like(t) * 0.1);
  }
  m->set_adapter(set);
  const at::Tensor toks = at::tensor(std::vector<int64_t>{1, 17, 33, 5, 99, 64, 12, 7, 120, 3}, at::kLong).view({1, -1});
  auto params = lora_parameters(*set);
  auto run = [&](bool ckpt) {
    m->set_gradient_checkpointing(ckpt);
    for (auto& p : params) p.mutable_grad() = at::Tensor();
    at::Tensor loss = loss_of(*m, toks);
    loss.backward();
    std::vector<at::Tensor> g;
    for (auto& p : params) g.push_back(p.grad().clone());
    return std::make_pair(loss.item<double>(), g);
  };
  const auto plain = run(false), ckpt = run(true);
  CHECK(ckpt.first == plain.first);
  REQUIRE(ckpt.second.size() == plain.second.size());
  double worst = 0;
  for (size_t i = 0; i < plain.second.size(); ++i) {
    REQUIRE(ckpt.second[i].defined());
    worst = std::max(worst, (ckpt.second[i] - plain.second[i]).abs().max().item<double>());
  }
  INFO("max |gradient difference| " << worst);
  CHECK(worst < 1e-12);
  // Without grad mode (inference) checkpointing changes nothing.
  at::NoGradGuard ng;
  m->set_gradient_checkpointing(true);
  const at::Tensor a = m->forward(toks, nullptr);
  m->set_gradient_checkpointing(false);
  CHECK(at::equal(a, m->forward(toks, nullptr)));
}
