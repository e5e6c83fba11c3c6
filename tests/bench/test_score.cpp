// End-to-end scoring with the real sandboxed renderer, real videos and the paper's S_SSIM.
#include <catch2/catch.hpp>

#include <filesystem>
#include <map>

#include "mtk/bench/score.hpp"
#include "mtk/core/fs.hpp"

namespace stdfs = std::filesystem;
using namespace mtk;

static std::map<std::string, bench::ItemResult> by_id(const bench::ScoreSummary& s) {
  std::map<std::string, bench::ItemResult> m;
  for (const auto& r : s.items) m[r.id] = r;
  return m;
}

TEST_CASE("oracle scoring of the sample set: every reference renders and scores 1", "[integration]") {
  auto dir = fs::make_temp_dir(stdfs::temp_directory_path(), "mtk-score-");
  bench::ScoreOptions o;
  o.dataset = "samples";
  o.split = "test";
  o.predictions = "reference";
  o.out_dir = dir.string();
  auto s = bench::run_score(o);
  REQUIRE(s.items.size() >= 12);
  for (const auto& r : s.items) {
    INFO(r.id << " " << r.pred_failure << " " << r.pred_error);
    CHECK(r.ref_ok);
    CHECK(r.pred_ok);
    CHECK(r.s_ssim == Approx(1.0).margin(1e-12));
    CHECK(r.ref_frames == r.pred_frames);
    CHECK(r.ref_frames >= 1);
  }
  CHECK(s.overall.rsr() == 1.0);
  for (const char* f : {"results.jsonl", "summary.md", "summary.csv", "summary.json"}) CHECK(stdfs::exists(dir / f));
  CHECK_FALSE(stdfs::exists(dir / "results.partial.jsonl"));
  stdfs::remove_all(dir);
}

TEST_CASE("demo predictions: failure classes, partial similarity, resume", "[integration]") {
  auto dir = fs::make_temp_dir(stdfs::temp_directory_path(), "mtk-score-");
  bench::ScoreOptions o;
  o.dataset = "samples";
  o.predictions = (fs::project_root() / "data" / "samples" / "demo_predictions.jsonl").string();
  o.out_dir = dir.string();
  auto m = by_id(bench::run_score(o));
  CHECK(m["s01"].s_ssim == Approx(1.0).margin(1e-12));  // identical code
  CHECK(m["s11"].s_ssim == Approx(1.0).margin(1e-12));  // identical 3D scene
  CHECK(m["s04"].pred_failure == "name");
  CHECK(m["s06"].pred_failure == "type");
  CHECK(m["s07"].pred_failure == "attribute");
  CHECK(m["s08"].pred_failure == "syntax");
  CHECK(m["s09"].pred_failure == "latex");
  CHECK(m["s13"].pred_failure == "no_code");
  CHECK(m["s14"].pred_failure == "import");
  for (const char* id : {"s04", "s06", "s07", "s08", "s09", "s13", "s14"}) CHECK(m[id].s_ssim == 0.0);
  for (const char* id : {"s02", "s03", "s10", "s12"}) {
    INFO(id);
    CHECK(m[id].pred_ok);
    CHECK(m[id].s_ssim > 0.3);
    CHECK(m[id].s_ssim < 1.0);
  }
  // A scene that never animates is a one-frame video. The paper's S_SSIM aligns a = row maxima
  // with b = column maxima; with one frame each a == b, so any two stills score exactly 1 (a
  // weakness of the definition, reproduced on purpose).
  CHECK(m["s05"].pred_ok);
  CHECK(m["s05"].pred_frames == 1);
  CHECK(m["s05"].s_ssim == 1.0);

  // An interrupted run resumes from results.partial.jsonl: fake one by keeping half the lines.
  std::string all = fs::read_file(dir / "results.jsonl");
  size_t cut = 0;
  for (int i = 0; i < 7; ++i) cut = all.find('\n', cut) + 1;
  fs::atomic_write(dir / "results.partial.jsonl", all.substr(0, cut));
  auto again = by_id(bench::run_score(o));
  for (auto& [id, r] : m) {
    INFO(id);
    CHECK(again[id].s_ssim == r.s_ssim);
    CHECK(again[id].pred_failure == r.pred_failure);
  }
  stdfs::remove_all(dir);
}

TEST_CASE("oracle scoring of ManimBench test: at least 95 of 100 references render, each scores 1", "[slow]") {
  if (!stdfs::exists(fs::project_root() / "data" / "manimbench" / "manimbench.jsonl")) {
    FAIL("ManimBench JSONL missing: run scripts/setup.sh with ../shared/manimbench present");
  }
  auto dir = fs::make_temp_dir(stdfs::temp_directory_path(), "mtk-oracle-");
  bench::ScoreOptions o;
  o.dataset = "manimbench";
  o.split = "test";
  o.predictions = "reference";
  o.out_dir = dir.string();
  auto s = bench::run_score(o);
  REQUIRE(s.items.size() == 100);
  size_t rendered = 0;
  for (const auto& r : s.items) {
    if (!r.ref_ok) {
      WARN("reference " << r.id << " failed: " << r.ref_failure << " " << r.pred_error);
      continue;
    }
    ++rendered;
    INFO(r.id);
    CHECK(r.s_ssim == Approx(1.0).margin(1e-12));
  }
  CHECK(rendered >= 95);
  stdfs::remove_all(dir);
}
