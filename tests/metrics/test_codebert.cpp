// CodeBERT cosine (codebert.hpp): the paper's pooling and cosine against transformers on a tiny
// random RoBERTa (tests/encoders/fixtures/encoder), the vocab.json + merges.txt tokenizer path, and the
// "unavailable" report without weights. The real microsoft/codebert-base is checked too when
// models/codebert-base is present (scripts/fetch_models.sh codebert; not in CI: 500 MB).
#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "tiny_codebert.hpp"
#include "mtk/build_info.hpp"
#include "mtk/core/error.hpp"
#include "mtk/core/fs.hpp"
#include "mtk/encoders/encoder_text.hpp"
#include "mtk/llm/tokenizer_bpe.hpp"
#include "mtk/metrics/codebert.hpp"

namespace {
namespace stdfs = std::filesystem;
using mtk::test::fixture;
using mtk::test::TinyCodeBert;
}  // namespace

TEST_CASE("CodeBERT cosine: the paper's padded-mean pooling matches transformers", "[codebert]") {
  TinyCodeBert t;
  const auto& fx = fixture().at("codebert_tiny");
  const auto a = fx.at("a").get<std::vector<int32_t>>(), b = fx.at("b").get<std::vector<int32_t>>();
  const auto paper = mtk::metrics::CodeBertScorer::load(t.dir.string());
  CHECK(paper.cosine_ids(a, b) == Approx(fx.at("padded_mean_cosine").get<double>()).margin(1e-5));
  CHECK(paper.cosine_ids(b, a) == Approx(fx.at("padded_mean_cosine").get<double>()).margin(1e-5));
  mtk::metrics::CodeBertOptions o;
  o.masked_mean = true;
  const auto masked = mtk::metrics::CodeBertScorer::load(t.dir.string(), o);
  CHECK(masked.cosine_ids(a, b) == Approx(fx.at("masked_mean_cosine").get<double>()).margin(1e-5));
  // The two poolings really differ here (different lengths), and agree for equal lengths.
  CHECK(std::abs(fx.at("padded_mean_cosine").get<double>() - fx.at("masked_mean_cosine").get<double>()) > 0.01);
  CHECK(paper.cosine_ids(a, a) == Approx(1.0));
}

TEST_CASE("CodeBERT tokenization: vocab.json + merges.txt, <s> ... </s>, truncation", "[codebert]") {
  TinyCodeBert t;
  mtk::metrics::CodeBertOptions o;
  o.max_length = 6;
  const auto s = mtk::metrics::CodeBertScorer::load(t.dir.string(), o);
  const auto id = [&](const char* tok) { return t.vocab.at(tok).get<int32_t>(); };
  // "def f(x):" -> "def" (merged), "Ġf" (merged), "(", "x", ")", ":"
  CHECK(mtk::metrics::CodeBertScorer::load(t.dir.string()).tokenize("def f(x):") ==
        std::vector<int32_t>{0, id("def"), id("\xc4\xa0" "f"), id("("), id("x"), id(")"), id(":"), 2});
  CHECK(s.tokenize("def f(x):") == std::vector<int32_t>{0, id("def"), id("\xc4\xa0" "f"), id("("), id("x"), 2});
  CHECK(s.cosine("def f(x):", "def f(x):") == Approx(1.0));
  CHECK(s.cosine("def f(x):", "abc") < 0.9999);
}

TEST_CASE("CodeBERT without weights is reported unavailable, never substituted", "[codebert]") {
  std::string why;
  CHECK_FALSE(mtk::metrics::CodeBertScorer::try_load("/nonexistent/codebert", {}, &why).has_value());
  CHECK_THAT(why, Catch::Contains("fetch_models.sh codebert"));
  CHECK_THROWS_WITH(mtk::metrics::CodeBertScorer::load("/nonexistent/codebert"), Catch::Contains("fetch_models.sh codebert"));
  const auto r = mtk::metrics::codebert_cosine(nullptr, "a = 1", "a = 1");
  CHECK_FALSE(r.available);
  CHECK_THAT(r.note, Catch::Contains("unavailable"));
}

// Hidden (needs the 500 MB user-supplied weights): ./test_metrics "[codebert_model]"
TEST_CASE("microsoft/codebert-base (user-supplied weights)", "[.][codebert_model]") {
  const std::string dir = mtk::metrics::CodeBertScorer::default_dir();
  std::string why;
  auto s = mtk::metrics::CodeBertScorer::try_load(dir, {}, &why);
  if (!s) FAIL(why);
  const auto ids = s->tokenize("def construct(self):\n    self.play(Create(Circle()))");
  REQUIRE(ids.size() > 4);
  CHECK(ids.front() == 0);
  CHECK(ids.back() == 2);
  CHECK(std::find(ids.begin(), ids.end(), 3) == ids.end());  // no <unk>: byte-level BPE covers everything
  const double same = s->cosine("x = 1\nprint(x)", "x = 1\nprint(x)");
  CHECK(same == Approx(1.0));
  CHECK(s->cosine("x = 1\nprint(x)", "class A(Scene):\n    pass") < same);
}
