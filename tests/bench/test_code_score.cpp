// manim-bench code-score: per-item CodeBLEU and its components, the corpus score, the CodeBERT
// cosine and CBB when a CodeBERT directory is given (the tiny random RoBERTa of
// tests/encoders/fixtures/encoder in a codebert-base-shaped directory), "unavailable" without one; the
// program itself on two files.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>

#include "../llm/peer.hpp"
#include "../metrics/tiny_codebert.hpp"
#include "mtk/bench/code_score.hpp"
#include "mtk/core/fs.hpp"
#include "mtk/core/jsonl.hpp"
#include "mtk/data/dataset.hpp"
#include "mtk/metrics/codebert.hpp"
#include "mtk/metrics/codebleu.hpp"

namespace stdfs = std::filesystem;
using nlohmann::json;

namespace {

struct Fixture {
  stdfs::path dir = mtk::fs::make_temp_dir(stdfs::temp_directory_path(), "mtk-code-score-");
  std::vector<mtk::data::Task> tasks;
  std::map<std::string, std::string> hyp;  // id -> the code the predictions file gives (absent: none)
  Fixture() {
    for (auto& t : mtk::data::load_dataset("samples", "test"))
      if (!t.code.empty()) tasks.push_back(std::move(t));
    REQUIRE(tasks.size() >= 4);
    std::string lines;
    // 0: the reference itself; 1: an edit; 2: another task's code inside a completion; 3: missing.
    hyp[tasks[0].id] = tasks[0].code;
    lines += json{{"id", tasks[0].id}, {"code", tasks[0].code}}.dump() + "\n";
    std::string edited = tasks[1].code;
    const size_t at = edited.find("self.play");
    if (at != std::string::npos) edited.replace(at, 9, "self.wait(1)\n        self.play");
    hyp[tasks[1].id] = edited;
    lines += json{{"id", tasks[1].id}, {"code", edited}}.dump() + "\n";
    hyp[tasks[2].id] = tasks[0].code;
    lines += json{{"id", tasks[2].id}, {"completion", "Here it is:\n```python\n" + tasks[0].code + "```\n"}}.dump() + "\n";
    mtk::fs::atomic_write(dir / "predictions.jsonl", lines);
  }
  ~Fixture() {
    std::error_code ec;
    stdfs::remove_all(dir, ec);
  }
  mtk::bench::CodeScoreOptions options(const std::string& out) const {
    mtk::bench::CodeScoreOptions o;
    o.dataset = "samples";
    o.split = "test";
    o.predictions = (dir / "predictions.jsonl").string();
    o.out_dir = (dir / out).string();
    o.threads = 2;
    return o;
  }
};

std::vector<json> read_results(const stdfs::path& p) {
  std::vector<json> out;
  mtk::read_jsonl(p.string(), "results", [&](const json& j, size_t) { out.push_back(j); });
  return out;
}

}  // namespace

TEST_CASE("code-score: per-item CodeBLEU, corpus score, CBB unavailable without CodeBERT", "[code_score]") {
  Fixture f;
  const auto sum = mtk::bench::run_code_score(f.options("none"), mtk::bench::code_cosine_codebert(
                                                                     (f.dir / "no-such-codebert").string()));
  CHECK(sum.items == f.tasks.size());
  CHECK(sum.missing == f.tasks.size() - 3);
  CHECK(sum.with_code == 3);
  CHECK_FALSE(sum.mean_cbb);
  CHECK(sum.unavailable_reason.find("fetch_models.sh codebert") != std::string::npos);
  const auto items = read_results(f.dir / "none" / "results.jsonl");
  REQUIRE(items.size() == f.tasks.size());
  std::vector<std::string> refs, hyps;
  double mean = 0;
  for (size_t i = 0; i < items.size(); ++i) {
    const auto& j = items[i];
    REQUIRE(j["id"] == f.tasks[i].id);
    const auto it = f.hyp.find(f.tasks[i].id);
    const std::string h = it == f.hyp.end() ? std::string() : it->second;
    refs.push_back(f.tasks[i].code);
    hyps.push_back(h);
    const auto r = mtk::metrics::codebleu(f.tasks[i].code, h);
    INFO(f.tasks[i].id);
    CHECK(j["codebleu"].get<double>() == r.codebleu);
    CHECK(j["ngram_match"].get<double>() == r.ngram_match);
    CHECK(j["syntax_match"].get<double>() == r.syntax_match);
    CHECK(j["dataflow_match"].get<double>() == r.dataflow_match);
    CHECK(j["cbb"].is_null());
    CHECK(j["codebert_cosine"].is_null());
    CHECK(j["unavailable"].get<std::string>().find("fetch_models.sh codebert") != std::string::npos);
    mean += r.codebleu;
  }
  CHECK(items[0]["codebleu"].get<double>() == Approx(1.0).margin(1e-12));
  CHECK(items[1]["codebleu"].get<double>() < 1.0);
  CHECK(items[1]["codebleu"].get<double>() > 0.5);
  CHECK(items[3]["has_code"] == false);
  CHECK(sum.mean_codebleu == Approx(mean / items.size()).epsilon(1e-12));
  const auto corpus = mtk::metrics::corpus_codebleu(refs, hyps, {}, 1);
  CHECK(sum.corpus.codebleu == Approx(corpus.codebleu).epsilon(1e-12));
  const json meta = json::parse(mtk::fs::read_file(f.dir / "none" / "summary.json"));
  CHECK(meta["mean_cbb"].is_null());
  CHECK(meta["missing_predictions"] == f.tasks.size() - 3);
}

TEST_CASE("code-score: CodeBERT cosine and CBB with a CodeBERT directory", "[code_score]") {
  Fixture f;
  mtk::test::TinyCodeBert bert;
  const auto sum = mtk::bench::run_code_score(f.options("bert"), mtk::bench::code_cosine_codebert(bert.dir.string()));
  REQUIRE(sum.mean_cbb);
  CHECK(sum.unavailable_reason.empty());
  const auto scorer = mtk::metrics::CodeBertScorer::load(bert.dir.string());
  const auto items = read_results(f.dir / "bert" / "results.jsonl");
  double mean_cbb = 0;
  for (size_t i = 0; i < items.size(); ++i) {
    const auto& j = items[i];
    const auto it = f.hyp.find(f.tasks[i].id);
    const std::string h = it == f.hyp.end() ? std::string() : it->second;
    const double cos = scorer.cosine(f.tasks[i].code, h);
    INFO(f.tasks[i].id);
    REQUIRE(j["codebert_cosine"].is_number());
    CHECK(j["codebert_cosine"].get<double>() == Approx(cos).margin(1e-9));
    CHECK(j["cbb"].get<double>() == Approx(std::sqrt(j["codebleu"].get<double>() * std::max(0.0, cos))).margin(1e-12));
    mean_cbb += j["cbb"].get<double>();
  }
  CHECK(items[0]["codebert_cosine"].get<double>() == Approx(1.0).margin(1e-6));  // a code against itself
  CHECK(*sum.mean_cbb == Approx(mean_cbb / items.size()).epsilon(1e-12));
}

TEST_CASE("manim-bench code-score on two files", "[code_score]") {
  Fixture f;
  const auto a = f.dir / "a.py", b = f.dir / "b.py";
  mtk::fs::atomic_write(a, f.tasks[1].code);
  mtk::fs::atomic_write(b, f.hyp[f.tasks[1].id]);
  const std::string exe = (mtk::test::build_dir() / "manim-bench").string();
  REQUIRE(stdfs::exists(exe));
  const std::string out = mtk::test::run_checked(mtk::test::quote(exe) + " code-score " + mtk::test::quote(a.string()) +
                                                 " " + mtk::test::quote(b.string()) + " --codebert " +
                                                 mtk::test::quote((f.dir / "none").string()) + " 2>&1");
  const auto r = mtk::metrics::codebleu(f.tasks[1].code, f.hyp[f.tasks[1].id]);
  char want[64];
  std::snprintf(want, sizeof want, "CodeBLEU              %.6f", r.codebleu);
  INFO(out);
  CHECK(out.find(want) != std::string::npos);
  CHECK(out.find("CBB (CodeBERTBLEU)    unavailable") != std::string::npos);
}
