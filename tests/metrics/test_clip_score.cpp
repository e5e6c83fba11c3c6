// S_CLIP and VS (clip_score.hpp): known answers, the paper's Python computation (fastdtw with
// 1 - np.dot) as the peer, the availability record, and VS on real rendered frames.
#include <catch2/catch.hpp>

#include <cmath>
#include <fstream>
#include <random>

#include "../video/manim_fixture.hpp"
#include "mtk/build_info.hpp"
#include "mtk/core/error.hpp"
#include "mtk/core/fs.hpp"
#include "mtk/encoders/clip.hpp"
#include "mtk/encoders/encoder_source.hpp"
#include "mtk/metrics/clip_score.hpp"

using mtk::metrics::combine_visual;
using mtk::metrics::Embeddings;
using mtk::metrics::s_clip;
using mtk::metrics::VisualSimilarity;

namespace {

Embeddings random_unit(size_t n, size_t dim, std::mt19937& rng, float spread) {
  std::normal_distribution<float> g;
  std::vector<float> base(dim);
  for (auto& b : base) b = g(rng);
  Embeddings e(n, std::vector<float>(dim));
  for (auto& v : e) {
    double s = 0;
    for (size_t k = 0; k < dim; ++k) {
      v[k] = base[k] + spread * g(rng);
      s += double(v[k]) * v[k];
    }
    for (auto& x : v) x = static_cast<float>(x / std::sqrt(s));
  }
  return e;
}

}  // namespace

TEST_CASE("S_CLIP known answers", "[clip_score][unit]") {
  const Embeddings a = {{1, 0, 0}, {0, 1, 0}};
  const auto same = s_clip(a, a);
  CHECK(same.score == Approx(1.0));
  CHECK(same.dtw_distance == Approx(0.0).margin(1e-15));
  // [e1, e2] vs [e1]: path (0,0), (1,0): cost 0 + (1 - e2.e1) = 1; S = exp(-1 / 2)
  const auto r = s_clip(a, {{1, 0, 0}});
  CHECK(r.dtw_distance == Approx(1.0));
  CHECK(r.score == Approx(std::exp(-0.5)));
  CHECK(r.n == 2);
  CHECK(r.m == 1);
  // opposite vectors: cost 2 each
  CHECK(s_clip({{1, 0}}, {{-1, 0}}).score == Approx(std::exp(-2.0)));
  // cosine option renormalises (the paper's 1 - dot does not)
  mtk::metrics::ClipScoreOptions cos;
  cos.cosine = true;
  CHECK(s_clip({{2, 0}}, {{3, 0}}, cos).score == Approx(1.0));
  CHECK(s_clip({}, a).score == 0.0);
  CHECK(s_clip(a, {}).score == 0.0);
  CHECK_THROWS_AS(s_clip(a, {{1, 0}}), mtk::Error);
}

TEST_CASE("S_CLIP equals the paper's fastdtw(1 - np.dot) computation", "[clip_score][python]") {
  mtk::testing::require_python_peers();
  std::mt19937 rng(5);
  nlohmann::json jobs = nlohmann::json::array();
  std::vector<std::pair<Embeddings, Embeddings>> cases;
  for (int t = 0; t < 30; ++t) {
    const size_t n = 1 + rng() % 40, m = 1 + rng() % 40, dim = t % 3 == 0 ? 768 : 16;
    const float spread = t % 2 ? 0.3f : 1.5f;
    cases.push_back({random_unit(n, dim, rng, spread), random_unit(m, dim, rng, spread)});
    jobs.push_back({{"ref", cases.back().first}, {"gen", cases.back().second}});
  }
  mtk::testing::ScratchDir dir("mtk-clip-score-");
  std::ofstream(dir.path / "jobs.json") << jobs.dump();
  const std::string script =
      "import json, sys, numpy as np\n"
      "from fastdtw import fastdtw\n"
      "out = []\n"
      "for j in json.load(open(sys.argv[1])):\n"
      "    a = np.asarray(j['ref'], dtype=float); b = np.asarray(j['gen'], dtype=float)\n"
      "    d, path = fastdtw(a, b, radius=1, dist=lambda x, y: 1 - np.dot(x, y))\n"
      "    out.append({'d': float(d), 's': float(np.exp(-d / max(len(a), len(b)))), 'path': [list(p) for p in path]})\n"
      "print(json.dumps(out))\n";
  std::ofstream(dir.path / "peer.py") << script;
  const auto r = mtk::testing::run_command(mtk::testing::shell_quote(mtk::testing::venv_python().string()) + " " +
                                               (dir.path / "peer.py").string() + " " + (dir.path / "jobs.json").string(),
                                           false);
  REQUIRE(r.status == 0);
  const auto res = nlohmann::json::parse(r.output);
  REQUIRE(res.size() == cases.size());
  for (size_t k = 0; k < cases.size(); ++k) {
    INFO("case " << k);
    const auto ours = s_clip(cases[k].first, cases[k].second);
    CHECK(ours.dtw_distance == Approx(res[k]["d"].get<double>()).epsilon(1e-9).margin(1e-12));
    CHECK(ours.score == Approx(res[k]["s"].get<double>()).epsilon(1e-9));
    std::vector<std::pair<size_t, size_t>> path;
    for (const auto& p : res[k]["path"]) path.push_back({p[0].get<size_t>(), p[1].get<size_t>()});
    CHECK(ours.path == path);
  }
}

TEST_CASE("VS records which terms were computed", "[clip_score][unit]") {
  const auto ok = combine_visual(true, 0.81, 0.64);
  CHECK(ok.status == VisualSimilarity::Status::ok);
  REQUIRE(ok.vs_available());
  CHECK(*ok.vs == Approx(std::sqrt(0.81 * 0.64)));
  CHECK(ok.has_ssim);
  CHECK(ok.has_clip);

  const auto failed = combine_visual(false, std::nullopt, std::nullopt);
  CHECK(failed.status == VisualSimilarity::Status::render_failed);
  REQUIRE(failed.vs_available());
  CHECK(*failed.vs == 0.0);

  const auto no_clip = combine_visual(true, 0.9, std::nullopt);
  CHECK(no_clip.status == VisualSimilarity::Status::clip_unavailable);
  CHECK_FALSE(no_clip.vs_available());
  CHECK(no_clip.has_ssim);
  CHECK_FALSE(no_clip.has_clip);
  CHECK(no_clip.s_ssim == 0.9);
  CHECK(std::string(mtk::metrics::to_string(no_clip.status)) == "clip_unavailable");
  CHECK_THAT(no_clip.note, Catch::Contains("fetch_models.sh clip"));
}

TEST_CASE("VS on rendered Manim frames with a (tiny, random-weight) CLIP tower", "[clip_score]") {
  namespace stdfs = std::filesystem;
  const stdfs::path dir = stdfs::path(mtk::build::kSourceDir) / "tests" / "encoders" / "fixtures" / "clip";
  mtk::video::SampleOptions so;
  so.gray = true;
  so.rgb = true;
  const auto shapes = mtk::video::load_frames(dir / "frame_shapes.png", so);
  const auto graph = mtk::video::load_frames(dir / "frame_graph.png", so);
  mtk::encoders::ClipVisionConfig cfg;
  cfg.hidden = 32, cfg.intermediate = 64, cfg.heads = 4, cfg.layers = 2, cfg.patch_size = 14, cfg.projection_dim = 16;
  const auto enc = mtk::encoders::ClipVisionEncoder::from_source(cfg, mtk::encoders::random_source(7));

  mtk::metrics::ClipScore cd;
  mtk::metrics::SSimScore sd;
  const auto same = mtk::metrics::visual_similarity(shapes, shapes, &enc, {}, &cd, &sd);
  CHECK(same.status == VisualSimilarity::Status::ok);
  REQUIRE(same.vs_available());
  CHECK(*same.vs == Approx(1.0));

  const auto diff = mtk::metrics::visual_similarity(shapes, graph, &enc, {}, &cd, &sd);
  REQUIRE(diff.vs_available());
  const auto e = enc.encode_images({shapes.rgb[0], graph.rgb[0]});
  double dot = 0;
  for (size_t k = 0; k < e[0].size(); ++k) dot += double(e[0][k]) * e[1][k];
  CHECK(diff.s_clip == Approx(std::exp(-(1 - dot))));
  CHECK(diff.s_ssim == Approx(sd.score));
  CHECK(*diff.vs == Approx(std::sqrt(diff.s_ssim * diff.s_clip)));
  CHECK(*diff.vs < 1.0);

  const auto alone = mtk::metrics::visual_similarity(shapes, graph, nullptr);
  CHECK_FALSE(alone.vs_available());
  CHECK(alone.s_ssim == Approx(diff.s_ssim));
}
