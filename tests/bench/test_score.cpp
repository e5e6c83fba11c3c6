// End-to-end scoring with the real sandboxed renderer, real videos, the paper's S_SSIM and FVS.
#include <catch2/catch.hpp>

#include <cmath>
#include <filesystem>
#include <map>

#include "mtk/bench/score.hpp"
#include "mtk/core/fs.hpp"
#include "mtk/core/hash.hpp"
#include "mtk/encoders/clip.hpp"
#include "../core/run_meta_check.hpp"
#include "../encoders/random_safetensors.hpp"
#include <nlohmann/json.hpp>

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
    // Every visual metric computed here, by name; identical renders score 1 on each. Without CLIP
    // weights S_CLIP and VS are reported unavailable, never replaced.
    REQUIRE(r.metrics.size() == 2);
    CHECK(r.unavailable.size() == 2);
    CHECK(r.metrics.at("S_SSIM") == r.s_ssim);
    CHECK(r.metrics.at("FVS") == 1.0);
    CHECK(r.details.count("FVS.iou"));
  }
  CHECK(s.overall.rsr() == 1.0);
  CHECK(s.metrics == std::vector<std::string>{"S_SSIM", "FVS"});
  REQUIRE(s.unavailable.size() == 2);
  CHECK_THAT(s.unavailable[0], Catch::StartsWith("S_CLIP: no CLIP ViT-L/14 weights"));
  CHECK(s.overall.mean("FVS") == Approx(1.0));
  for (const char* f : {"results.jsonl", "summary.md", "summary.csv", "summary.json"}) CHECK(stdfs::exists(dir / f));
  // The summaries carry every metric: a column in the CSV and the Markdown, a mean in the JSON.
  const std::string csv = fs::read_file(dir / "summary.csv");
  CHECK(csv.substr(0, csv.find('\n')).find(",s_ssim,dtw_distance,fvs,") != std::string::npos);
  CHECK(fs::read_file(dir / "summary.md").find("mean FVS") != std::string::npos);
  const auto meta = nlohmann::json::parse(fs::read_file(dir / "summary.json"));
  CHECK(meta["mean"]["FVS"].get<double>() == Approx(1.0));
  CHECK(meta["metrics"] == nlohmann::json(s.metrics));
  const auto first = nlohmann::json::parse(fs::read_file(dir / "results.jsonl").substr(0, fs::read_file(dir / "results.jsonl").find('\n')));
  CHECK(first["metrics"]["FVS"].get<double>() == 1.0);
  CHECK(first["unavailable"].is_array());
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
  CHECK(m["s01"].metrics.at("FVS") == 1.0);
  for (const char* id : {"s04", "s06", "s07", "s08", "s09", "s13", "s14"}) {
    CHECK(m[id].s_ssim == 0.0);
    CHECK(m[id].metrics.at("FVS") == 0.0);  // failures score 0 on every metric
  }
  for (const char* id : {"s02", "s03", "s10", "s12"}) {
    INFO(id);
    CHECK(m[id].pred_ok);
    CHECK(m[id].s_ssim > 0.3);
    CHECK(m[id].s_ssim < 1.0);
    CHECK(m[id].metrics.at("FVS") > 0.0);
    CHECK(m[id].metrics.at("FVS") < 1.0);
  }
  // A scene that never animates is a one-frame video. The paper's S_SSIM aligns a = row maxima
  // with b = column maxima; with one frame each a == b, so any two stills score exactly 1 (a
  // weakness of the definition, reproduced on purpose).
  CHECK(m["s05"].pred_ok);
  CHECK(m["s05"].pred_frames == 1);
  CHECK(m["s05"].s_ssim == 1.0);
  // FVS compares what is drawn: the still differs from its reference.
  CHECK(m["s05"].metrics.at("FVS") < 0.9);

  // An interrupted run resumes from results.partial.jsonl: fake one by keeping half the lines.
  std::string all = fs::read_file(dir / "results.jsonl");
  size_t cut = 0;
  for (int i = 0; i < 7; ++i) cut = all.find('\n', cut) + 1;
  fs::atomic_write(dir / "results.partial.jsonl", all.substr(0, cut));
  // Plus a line in the older format (S_SSIM only, no "metrics"): it is scored again, not reused.
  auto old = nlohmann::json::parse(all.substr(cut, all.find('\n', cut) - cut));
  const std::string old_id = old["id"];
  old.erase("metrics");
  old.erase("unavailable");
  old.erase("details");
  old["s_ssim"] = 0.123;  // would show if the line were reused
  fs::append_line(dir / "results.partial.jsonl", old.dump());
  auto again = by_id(bench::run_score(o));
  for (auto& [id, r] : m) {
    INFO(id);
    CHECK(again[id].s_ssim == r.s_ssim);
    CHECK(again[id].metrics == r.metrics);
    CHECK(again[id].pred_failure == r.pred_failure);
  }
  CHECK(again[old_id].s_ssim != 0.123);
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

TEST_CASE("S_CLIP and VS with a CLIP model: computed for rendered items, 0 for failed ones", "[integration][clip]") {
  // A small random-weight CLIP vision tower (the CLIP parity fixture's tiny config) stands in for
  // ViT-L/14, whose weights are not on PyPI: it exercises the same scoring path.
  const auto fx = nlohmann::json::parse(
      fs::read_file(stdfs::path(__FILE__).parent_path().parent_path() / "encoders/fixtures/clip/expected.json"))["configs"]["tiny"];
  const auto clip_dir = fs::make_temp_dir(stdfs::temp_directory_path(), "mtk-clip-");
  const auto cfg = encoders::clip_vision_config_from_json(fx["config"]);
  test::write_random_safetensors(clip_dir / "model.safetensors", encoders::ClipVisionEncoder::tensor_shapes(cfg),
                                 fx["seed"].get<uint64_t>());
  nlohmann::json config = {{"model_type", "clip"}, {"projection_dim", cfg.projection_dim}, {"vision_config", fx["config"]}};
  fs::atomic_write(clip_dir / "config.json", config.dump());

  auto dir = fs::make_temp_dir(stdfs::temp_directory_path(), "mtk-score-");
  bench::ScoreOptions o;
  o.dataset = "samples";
  o.predictions = (fs::project_root() / "data/samples/demo_predictions.jsonl").string();
  o.out_dir = dir.string();
  o.clip_model = clip_dir.string();
  o.limit = 3;
  auto s = bench::run_score(o);
  CHECK(s.metrics == bench::visual_metrics());
  CHECK(s.unavailable.empty());
  for (const auto& r : s.items) {
    INFO(r.id);
    REQUIRE(r.metrics.count("VS"));
    if (!r.pred_ok) {
      CHECK(r.metrics.at("VS") == 0.0);  // the paper's rule for a failed render
      continue;
    }
    CHECK(r.metrics.at("S_CLIP") > 0.0);
    CHECK(r.metrics.at("S_CLIP") <= 1.0 + 1e-6);  // cost 1 - x.y of float32 unit vectors can dip below 0
    CHECK(r.metrics.at("VS") == Approx(std::sqrt(r.metrics.at("S_SSIM") * r.metrics.at("S_CLIP"))).epsilon(1e-12));
  }
  // run_meta.json: revision, versions, the run's options and the CLIP model's files with their sha256.
  const auto meta = nlohmann::json::parse(fs::read_file(dir / "run_meta.json"));
  mtk::test::check_run_meta(meta, "manim-bench score");
  CHECK(meta["config"]["dataset"] == "samples");
  CHECK(meta["config"]["limit"] == 3);
  REQUIRE(meta["models"].size() == 1);
  CHECK(meta["models"][0]["role"] == "clip");
  CHECK(meta["models"][0]["files"]["model.safetensors"]["sha256"] ==
        sha256_hex(fs::read_file(clip_dir / "model.safetensors")));
  CHECK(meta["models"][0]["files"]["config.json"]["sha256"] == sha256_hex(fs::read_file(clip_dir / "config.json")));
  // An unknown CLIP directory is an error naming the fetch command.
  o.clip_model = (dir / "nope").string();
  CHECK_THROWS_WITH(bench::run_score(o), Catch::Contains("scripts/fetch_models.sh clip"));
  stdfs::remove_all(dir);
  stdfs::remove_all(clip_dir);
}
