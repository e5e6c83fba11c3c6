// The libtorch model and generation loop on the real SmolLM2 file: incremental decoding with the KV
// cache gives the logits of a full forward pass; batched, left-padded generation gives each
// sequence what it gets alone; sampling options, stopping, streaming and log-probabilities.
// The sampler's distribution is checked on hand-made logits.
#include <ATen/ATen.h>

#include <catch2/catch.hpp>
#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "mtk/core/error.hpp"
#include "mtk/llm/generate.hpp"
#include "mtk/llm/gguf.hpp"
#include "mtk/llm/model.hpp"
#include "mtk/llm/tokenizer.hpp"
#include "peer.hpp"

using namespace mtk::llm;
using namespace mtk::test;

namespace {

const LanguageModel& smollm2() {
  static std::unique_ptr<LanguageModel> lm = LanguageModel::load(smollm2_path().string());
  return *lm;
}

}  // namespace

TEST_CASE("model config of SmolLM2 and Gemma 3 from GGUF", "[model]") {
  {
    const GgufFile f = GgufFile::open(smollm2_path().string());
    const ModelConfig c = config_from_gguf(f);
    CHECK(c.arch == "llama");
    CHECK(c.n_layers == 30);
    CHECK(c.hidden == 576);
    CHECK(c.n_heads == 9);
    CHECK(c.n_kv_heads == 3);
    CHECK(c.head_dim == 64);
    CHECK(c.vocab_size == 49152);
    CHECK_FALSE(c.rope_neox);  // llama.cpp permutes llama's q/k rows
    CHECK(c.rope_base == Approx(100000.0));
    CHECK(c.tied_embeddings);
  }
  {
    const GgufFile f = GgufFile::open(gemma3_path().string());
    const ModelConfig c = config_from_gguf(f);
    CHECK(c.arch == "gemma3");
    CHECK(c.n_layers == 18);
    CHECK(c.head_dim == 256);
    CHECK(c.n_kv_heads == 1);
    CHECK(c.rope_neox);
    CHECK(c.sliding_window == 512);
    CHECK(c.rope_base == Approx(1e6));
    CHECK(c.rope_base_local == Approx(1e4));
    int global = 0;
    for (size_t i = 0; i < c.layer_is_local.size(); ++i)
      if (!c.layer_is_local[i]) {
        ++global;
        CHECK((i + 1) % 6 == 0);
      }
    CHECK(global == 3);
    CHECK(c.post_norms);
    CHECK(c.act == Activation::GeluTanh);
  }
}

TEST_CASE("KV-cache decoding reproduces the full forward pass", "[model]") {
  const Model& m = smollm2().model();
  c10::InferenceMode guard;
  const std::vector<int32_t> ids = smollm2().encode_prompt("from manim import *\n\nclass Intro(Scene):\n    def construct(self):");
  const int64_t n = static_cast<int64_t>(ids.size());
  REQUIRE(n > 10);
  const at::Tensor toks = at::tensor(std::vector<int64_t>(ids.begin(), ids.end()), at::kLong).view({1, n});
  const at::Tensor full = m.forward(toks, nullptr);  // [1, n, V]
  // Prefill half, then one token at a time.
  KvCache cache = m.new_cache({0}, n);
  const int64_t half = n / 2;
  at::Tensor got = m.forward(toks.narrow(1, 0, half), &cache);
  std::vector<at::Tensor> parts{got};
  for (int64_t i = half; i < n; ++i) parts.push_back(m.forward(toks.narrow(1, i, 1), &cache));
  const at::Tensor inc = at::cat(parts, 1);
  const double diff = (inc - full).abs().max().item<double>();
  INFO("max |incremental - full| = " << diff);
  CHECK(diff < 2e-3);
  CHECK(cache.length == n);
}

TEST_CASE("attention in chunks of queries gives the one-pass result", "[model]") {
  // A left-padded batch of two prompts through the whole model, once in one pass and once in
  // chunks of 16 queries (the path long prompts take).
  const auto lm = LanguageModel::load(smollm2_path().string());
  Model& m = const_cast<Model&>(lm->model());
  c10::InferenceMode guard;
  const std::vector<int32_t> a = lm->encode_prompt(
      "from manim import *\n\nclass Intro(Scene):\n    def construct(self):\n        title = Text(\"Fourier series\")\n"
      "        self.play(Write(title))\n        axes = Axes(x_range=[-3, 3], y_range=[-2, 2])\n");
  const std::vector<int32_t> b = lm->encode_prompt("A blue circle turns into a red square.");
  const int64_t n = static_cast<int64_t>(a.size());
  REQUIRE(n > 40);
  REQUIRE(b.size() < a.size());
  std::vector<int64_t> rows(static_cast<size_t>(2 * n), 0);
  for (int64_t i = 0; i < n; ++i) rows[static_cast<size_t>(i)] = a[static_cast<size_t>(i)];
  const int64_t pad = n - static_cast<int64_t>(b.size());
  for (size_t i = 0; i < b.size(); ++i) rows[static_cast<size_t>(n + pad) + i] = b[i];
  const at::Tensor toks = at::tensor(rows, at::kLong).view({2, n});
  KvCache c1 = m.new_cache({0, pad}, n);
  const at::Tensor one = m.forward(toks, &c1);
  REQUIRE(m.attention_chunk_bytes() >= 2 * 9 * n * n * 4);  // the default takes this in one pass
  m.set_attention_chunk_bytes(1);
  KvCache c2 = m.new_cache({0, pad}, n);
  const at::Tensor chunked = m.forward(toks, &c2);
  const at::Tensor real = at::cat({one[0], one[1].narrow(0, pad, n - pad)}) - at::cat({chunked[0], chunked[1].narrow(0, pad, n - pad)});
  const double diff = real.abs().max().item<double>();
  INFO("max |chunked - one pass| over the real positions = " << diff);
  CHECK(diff < 1e-4);
}

TEST_CASE("left-padded batches generate what each prompt generates alone", "[model]") {
  const LanguageModel& lm = smollm2();
  const std::vector<std::string> prompts = {
      "Circle",
      "from manim import *\n\nclass SquareToCircle(Scene):\n    def construct(self):\n        square = Square()",
      "The derivative of x^2 is"};
  GenerateOptions opt;
  opt.max_new_tokens = 12;
  opt.ignore_eos = true;
  const auto batch = lm.generate(prompts, opt);
  REQUIRE(batch.size() == 3);
  for (size_t i = 0; i < prompts.size(); ++i) {
    const auto alone = lm.generate({prompts[i]}, opt);
    INFO("prompt " << i);
    CHECK(batch[i].tokens == alone[0].tokens);
    CHECK(batch[i].text == alone[0].text);
    REQUIRE(batch[i].logprobs.size() == alone[0].logprobs.size());
    for (size_t k = 0; k < batch[i].logprobs.size(); ++k) CHECK(batch[i].logprobs[k] == Approx(alone[0].logprobs[k]).margin(2e-3));
    CHECK(batch[i].finish_reason == "length");
    CHECK(batch[i].tokens.size() == 12);
  }
}

TEST_CASE("greedy log-probabilities are log_softmax of the logits", "[model]") {
  const LanguageModel& lm = smollm2();
  GenerateOptions opt;
  opt.max_new_tokens = 1;
  opt.ignore_eos = true;
  const std::vector<int32_t> ids = lm.encode_prompt("The sky is");
  const auto g = generate(lm.model(), lm.tokenizer(), {ids}, opt);
  c10::InferenceMode guard;
  const at::Tensor toks = at::tensor(std::vector<int64_t>(ids.begin(), ids.end()), at::kLong).view({1, -1});
  const at::Tensor logits = lm.model().forward(toks, nullptr, true).view({-1});
  const at::Tensor lsm = logits.to(at::kDouble).log_softmax(0);
  CHECK(g[0].tokens[0] == logits.argmax().item<int64_t>());
  CHECK(g[0].logprobs[0] == Approx(lsm[g[0].tokens[0]].item<double>()).margin(1e-5));
}

TEST_CASE("stop strings, end of generation and streaming", "[model]") {
  const LanguageModel& lm = smollm2();
  SECTION("a chat reply ends at <|im_end|>") {
    GenerateOptions opt;
    opt.max_new_tokens = 200;
    const std::string prompt = lm.chat_prompt({{"user", "Say hello."}});
    std::string streamed;
    const auto g = lm.generate({prompt}, opt, [&](size_t i, const std::string& s) {
      CHECK(i == 0);
      streamed += s;
    });
    CHECK(g[0].finish_reason == "eos");
    CHECK(lm.tokenizer().token_text(g[0].tokens.back()) == "<|im_end|>");
    CHECK(streamed == g[0].text);
    CHECK(g[0].text.find("<|im_end|>") == std::string::npos);
    CHECK_FALSE(g[0].text.empty());
  }
  SECTION("stop strings cut the text and are not streamed") {
    GenerateOptions opt;
    opt.max_new_tokens = 64;
    opt.ignore_eos = true;
    const auto free_run = lm.generate({"1, 2, 3, 4,"}, opt);
    REQUIRE(free_run[0].text.find("7") != std::string::npos);
    opt.stop = {"7"};
    std::string streamed;
    const auto g = lm.generate({"1, 2, 3, 4,"}, opt, [&](size_t, const std::string& s) { streamed += s; });
    CHECK(g[0].finish_reason == "stop");
    CHECK(g[0].text == free_run[0].text.substr(0, free_run[0].text.find('7')));
    CHECK(streamed == g[0].text);
  }
  SECTION("max tokens") {
    GenerateOptions opt;
    opt.max_new_tokens = 5;
    opt.ignore_eos = true;
    const auto g = lm.generate({"Once upon a time"}, opt);
    CHECK(g[0].tokens.size() == 5);
    CHECK(g[0].finish_reason == "length");
    CHECK(g[0].text == lm.tokenizer().decode(g[0].tokens, true));
  }
}

TEST_CASE("seeded sampling is reproducible and independent of the batch", "[model]") {
  const LanguageModel& lm = smollm2();
  GenerateOptions opt;
  opt.max_new_tokens = 16;
  opt.temperature = 0.9;
  opt.top_p = 0.95;
  opt.top_k = 50;
  opt.seed = 1234;
  opt.ignore_eos = true;
  const auto a = lm.generate({"A blue circle", "A red square"}, opt);
  const auto b = lm.generate({"A blue circle", "A red square"}, opt);
  CHECK(a[0].tokens == b[0].tokens);
  CHECK(a[1].tokens == b[1].tokens);
  const auto alone = lm.generate({"A blue circle"}, opt);
  CHECK(alone[0].tokens == a[0].tokens);
  opt.seed = 99;
  const auto c = lm.generate({"A blue circle", "A red square"}, opt);
  CHECK((c[0].tokens != a[0].tokens || c[1].tokens != a[1].tokens));
}

TEST_CASE("sampler: truncation rules and distribution", "[model][sampler]") {
  // Logits for 6 tokens: probabilities proportional to exp(l).
  const std::vector<float> logits = {2.0f, 1.0f, 0.5f, 0.0f, -1.0f, -3.0f};
  std::vector<double> p(logits.size());
  double z = 0;
  for (size_t i = 0; i < logits.size(); ++i) z += std::exp(logits[i]);
  for (size_t i = 0; i < logits.size(); ++i) p[i] = std::exp(logits[i]) / z;

  auto histogram = [&](GenerateOptions opt, int n) {
    Sampler s(opt, 0);
    std::map<int32_t, int> h;
    for (int i = 0; i < n; ++i) {
      float lp = 0;
      const int32_t t = s.sample(logits.data(), 6, {}, &lp);
      ++h[t];
      CHECK(lp == Approx(std::log(p[static_cast<size_t>(t)])).margin(1e-5));
    }
    return h;
  };
  SECTION("greedy") {
    GenerateOptions o;
    auto h = histogram(o, 20);
    CHECK(h[0] == 20);
  }
  SECTION("temperature 1 follows the softmax") {
    GenerateOptions o;
    o.temperature = 1.0;
    o.seed = 7;
    const int n = 40000;
    auto h = histogram(o, n);
    for (size_t i = 0; i < p.size(); ++i) {
      const double sd = std::sqrt(p[i] * (1 - p[i]) / n);
      INFO("token " << i << " freq " << h[static_cast<int32_t>(i)] / double(n) << " p " << p[i]);
      CHECK(std::abs(h[static_cast<int32_t>(i)] / double(n) - p[i]) < 5 * sd + 1e-9);
    }
  }
  SECTION("top-k 2") {
    GenerateOptions o;
    o.temperature = 1.0;
    o.top_k = 2;
    auto h = histogram(o, 5000);
    CHECK(h[0] + h[1] == 5000);
    const double want = p[0] / (p[0] + p[1]);
    CHECK(h[0] / 5000.0 == Approx(want).margin(0.03));
  }
  SECTION("top-p keeps the smallest set reaching the mass") {
    GenerateOptions o;
    o.temperature = 1.0;
    o.top_p = p[0] + p[1] - 1e-6;  // tokens 0 and 1 reach it
    auto h = histogram(o, 3000);
    CHECK(h[0] + h[1] == 3000);
    CHECK(h[1] > 0);
    o.top_p = p[0] * 0.5;  // the first token alone
    auto h1 = histogram(o, 100);
    CHECK(h1[0] == 100);
  }
  SECTION("min-p") {
    GenerateOptions o;
    o.temperature = 1.0;
    o.min_p = 0.3;  // keeps tokens with p >= 0.3 p_max: exp(l - 2) >= 0.3 -> l >= 0.796: tokens 0, 1
    auto h = histogram(o, 3000);
    CHECK(h[0] + h[1] == 3000);
    CHECK(h[1] > 0);
  }
  SECTION("repetition penalty demotes seen tokens") {
    GenerateOptions o;
    o.repetition_penalty = 3.0;  // token 0: 2/3 < 1 -> token 1 wins greedy
    Sampler s(o, 0);
    float lp = 0;
    CHECK(s.sample(logits.data(), 6, {0}, &lp) == 1);
    CHECK(lp == Approx(std::log(p[1])).margin(1e-5));  // log-prob of the raw distribution
  }
}

TEST_CASE("model loading errors name the problem", "[model]") {
  CHECK_THROWS_WITH(Model::load("/nonexistent/model.gguf"), Catch::Contains("does not exist"));
  const auto junk = write_temp("junk.gguf", "GGUF this is not a model");
  CHECK_THROWS_AS(Model::load(junk.string()), mtk::Error);
  std::filesystem::remove(junk);
}
