// The reward seam: term selection, the authors' composition rules, weights checks, and the visual
// and code scorers on real renders of the sample set.
#include <catch2/catch.hpp>
#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "mtk/core/error.hpp"
#include "mtk/core/fs.hpp"
#include "mtk/data/dataset.hpp"
#include "mtk/data/prompt.hpp"
#include "mtk/metrics/codebleu.hpp"
#include "mtk/metrics/foreground.hpp"
#include "mtk/metrics/visual.hpp"
#include "mtk/render/cache.hpp"
#include "mtk/render/render.hpp"
#include "mtk/reward/code.hpp"
#include "mtk/reward/reward.hpp"
#include "mtk/reward/visual.hpp"

using namespace mtk;
using namespace mtk::reward;
using Catch::Matchers::Contains;
namespace stdfs = std::filesystem;

namespace {

RewardInput sample_input() {
  RewardInput in;
  in.has_code = true;
  in.rendered = true;
  in.code_metrics = {{"CodeBLEU", 0.4}, {"CBB", 0.5}};
  in.visual_metrics = {{"S_SSIM", 0.9}, {"FVS", 0.6}, {"S_CLIP", 0.64}, {"VS", 0.7}};
  return in;
}

}  // namespace

TEST_CASE("reward: the paper's R = 0.2 CBB + 0.8 VS and the authors' rules", "[reward][unit]") {
  const auto paper = RewardSpec::paper();
  CHECK(paper.describe() == "0.2*CBB + 0.8*VS");
  CHECK(paper.needs_clip());
  CHECK(paper.needs_codebert());
  auto in = sample_input();
  auto r = compose(paper, in);
  CHECK(r.reward == Approx(0.2 * 0.5 + 0.8 * 0.7).epsilon(1e-12));
  CHECK(r.code == 0.5);
  CHECK(r.visual == 0.7);
  CHECK(r.parts().at("reward") == r.reward);
  // A failed render: V = 0, the code term still counts.
  in.rendered = false;
  in.visual_metrics.clear();
  CHECK(compose(paper, in).reward == Approx(0.1).epsilon(1e-12));
  CHECK(compose(paper, in).visual == 0);
  // Nothing extracted: R = 0 whatever else is there.
  in = sample_input();
  in.has_code = false;
  CHECK(compose(paper, in).reward == 0);
  CHECK(compose(paper, in).code == 0);
}

TEST_CASE("reward: term choices and the geometric option", "[reward][unit]") {
  auto in = sample_input();
  RewardSpec geo;
  geo.aggregation = Aggregation::geometric;
  CHECK(compose(geo, in).reward == Approx(std::sqrt(0.5 * 0.7)).epsilon(1e-12));
  CHECK(geo.describe() == "sqrt(CBB * VS)");
  // The CPU reward: CodeBLEU + FVS, no CLIP or CodeBERT needed.
  RewardSpec cpu;
  cpu.code_term = "CodeBLEU";
  cpu.visual_term = "FVS";
  CHECK(!cpu.needs_clip());
  CHECK(!cpu.needs_codebert());
  CHECK(compose(cpu, in).reward == Approx(0.2 * 0.4 + 0.8 * 0.6).epsilon(1e-12));
  RewardSpec fvs_clip = cpu;
  fvs_clip.visual_term = "FVS_CLIP";
  CHECK(fvs_clip.needs_clip());
  CHECK(compose(fvs_clip, in).visual == Approx(std::sqrt(0.6 * 0.64)).epsilon(1e-12));
  RewardSpec ssim_only;
  ssim_only.code_term = "none";
  ssim_only.visual_term = "S_SSIM";
  ssim_only.w_visual = 1;
  CHECK(compose(ssim_only, in).reward == Approx(0.9).epsilon(1e-12));
  CHECK(ssim_only.describe() == "1*S_SSIM");
  // A configured term that was not computed is an error, never a silent 0.
  in.code_metrics.erase("CBB");
  CHECK_THROWS_WITH(compose(RewardSpec::paper(), in), Contains("CBB was not computed"));
  in = sample_input();
  in.visual_metrics.erase("S_CLIP");
  CHECK_THROWS_WITH(compose(fvs_clip, in), Contains("FVS_CLIP was not computed"));
}

TEST_CASE("reward: specs from JSON, with clear errors", "[reward][unit]") {
  using nlohmann::json;
  auto s = spec_from_json(json::parse(R"({"code_term": "CodeBLEU", "visual_term": "FVS", "w_code": 0.3, "w_visual": 0.7})"));
  CHECK(s.code_term == "CodeBLEU");
  CHECK(s.visual_term == "FVS");
  CHECK(s.w_code == 0.3);
  json back = s;
  CHECK(spec_from_json(back).describe() == s.describe());
  CHECK(spec_from_json(json::object()).describe() == RewardSpec::paper().describe());
  CHECK_THROWS_WITH(spec_from_json(json::parse(R"({"visual_term": "PSNR"})")), Contains("unknown reward visual term"));
  CHECK_THROWS_WITH(spec_from_json(json::parse(R"({"weights": 1})")), Contains("unknown reward key"));
  CHECK_THROWS_WITH(spec_from_json(json::parse(R"({"w_code": -1})")), Contains(">= 0"));
  CHECK_THROWS_WITH(spec_from_json(json::parse(R"({"w_code": "high"})")), Contains("wrong type"));
  CHECK_THROWS_WITH(spec_from_json(json::parse(R"({"aggregation": "geometric", "code_term": "none"})")),
                    Contains("needs both"));
  CHECK_THROWS_WITH(spec_from_json(json::parse(R"({"aggregation": "harmonic"})")), Contains("arithmetic or geometric"));
}

TEST_CASE("reward: a term whose weights are missing stops the run with the fetch command", "[reward][unit]") {
  const stdfs::path empty = fs::make_temp_dir(stdfs::temp_directory_path(), "mtk-reward-test-");
  CHECK_THROWS_WITH(check_weights(RewardSpec::paper(), (empty / "clip").string(), (empty / "codebert").string()),
                    Contains("scripts/fetch_models.sh clip"));
  RewardSpec cbb_only;
  cbb_only.visual_term = "S_SSIM";
  CHECK_THROWS_WITH(check_weights(cbb_only, (empty / "clip").string(), (empty / "codebert").string()),
                    Contains("scripts/fetch_models.sh codebert"));
  RewardSpec cpu;
  cpu.code_term = "CodeBLEU";
  cpu.visual_term = "FVS";
  CHECK_NOTHROW(check_weights(cpu, (empty / "clip").string(), (empty / "codebert").string()));
  stdfs::remove_all(empty);
}

TEST_CASE("reward: scorers on real renders equal the metrics they wrap", "[reward][integration]") {
  auto tasks = data::load_dataset("samples", "all");
  REQUIRE(tasks.size() >= 2);
  render::Renderer renderer({}, std::make_shared<render::RenderCache>());
  const auto& a = tasks[0];
  const auto& b = tasks[1];
  auto ra = renderer.render({a.code, "", a.id});
  auto rb = renderer.render({b.code, "", b.id});
  REQUIRE(ra.success);
  REQUIRE(rb.success);
  video::SampleOptions so;
  so.gray = so.rgb = true;
  auto fa = video::load_frames(ra.output, so), fb = video::load_frames(rb.output, so);
  VisualOptions vo;
  auto v = score_frames(fa, fb, vo);
  CHECK(v.metrics.size() == 2);  // no CLIP: S_SSIM and FVS only
  CHECK(v.metrics.at("S_SSIM") == metrics::s_ssim(fa.gray, fb.gray).score);
  CHECK(v.metrics.at("FVS") == metrics::s_fg(fa, fb).score);
  CHECK(v.metrics.at("S_SSIM") < 1.0);
  auto self = score_frames(fa, fa, vo);
  CHECK(self.metrics.at("S_SSIM") == Approx(1.0));
  CHECK(visual_metric_names(false) == std::vector<std::string>{"S_SSIM", "FVS"});

  // The code side, and the CPU reward composed from both on real inputs.
  auto cs = code_score(a.code, b.code, nullptr);
  CHECK(cs.codebleu.codebleu == metrics::codebleu(a.code, b.code).codebleu);
  CHECK(!cs.cbb);  // no cosine source: CBB unavailable, never replaced
  RewardSpec cpu;
  cpu.code_term = "CodeBLEU";
  cpu.visual_term = "FVS";
  RewardInput in;
  in.has_code = true;
  in.rendered = true;
  in.code_metrics["CodeBLEU"] = cs.codebleu.codebleu;
  in.visual_metrics = v.metrics;
  CHECK(compose(cpu, in).reward == Approx(0.2 * cs.codebleu.codebleu + 0.8 * v.metrics.at("FVS")).epsilon(1e-12));
}
