// S_SSIM: the paper's definition, and parity with the Python peer (skimage + fastdtw + cv2) on real
// rendered video pairs.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cmath>
#include <map>

#include "../video/scenes.hpp"
#include "mtk/core/thread_pool.hpp"
#include "mtk/metrics/visual.hpp"
#include "mtk/video/decode.hpp"
#include "mtk/video/frame_dump.hpp"
#include "python_peer.hpp"

using namespace mtk::metrics;
namespace stdfs = std::filesystem;

TEST_CASE("S_SSIM from a matrix follows the paper's definition", "[unit]") {
  Matrix m;
  m.rows = 2;
  m.cols = 3;
  m.v = {0.9, 0.5, 0.7, 0.2, 0.95, 0.6};
  const SSimScore s = s_ssim_from_matrix(m);
  REQUIRE(s.a.size() == 2);
  REQUIRE(s.b.size() == 3);
  CHECK(s.a[0] == static_cast<double>(0.9f));  // float32 matrix, as the paper's np.float32
  CHECK(s.a[1] == static_cast<double>(0.95f));
  CHECK(s.b[2] == static_cast<double>(0.7f));
  // a = [.9, .95], b = [.9, .95, .7]: best path (0,0) (1,1) (1,2), cost |.95 - .7|.
  const double d = static_cast<double>(0.95f) - static_cast<double>(0.7f);
  CHECK(s.dtw_distance == d);
  CHECK(s.score == std::exp(-5.0 * (d / 3.0)));
  CHECK(s.path == std::vector<std::pair<size_t, size_t>>{{0, 0}, {1, 1}, {1, 2}});
  SSimScoreOptions f64;
  f64.float32_matrix = false;
  CHECK(s_ssim_from_matrix(m, f64).dtw_distance == Approx(0.25).margin(1e-15));

  CHECK(s_ssim_from_matrix(Matrix{}).score == 0.0);
  CHECK(s_ssim({}, {}).score == 0.0);
  mtk::video::Image black;
  black.width = 16;
  black.height = 16;
  black.channels = 1;
  black.pixels.assign(256, 0);
  CHECK(s_ssim({black}, {}).score == 0.0);
  CHECK(s_ssim({}, {black}).score == 0.0);
  CHECK(s_ssim({black, black}, {black}).score == 1.0);
}

namespace {

struct Pair {
  std::string ref, gen;
};

std::vector<Pair> parity_pairs() {
  return {{"square", "square"},        {"square", "square_red"},      {"square", "square_shift"},
          {"square", "square_slow"},   {"square_slow", "square"},     {"square", "square_small"},
          {"square_small", "square"},  {"square", "still"},           {"still", "square"},
          {"still", "still"},          {"text", "text_other"},        {"text", "square"},
          {"graph_sin", "graph_cos"},  {"graph_sin", "text"},         {"dots", "dots_down"},
          {"dots", "dots_white"},      {"dots_white", "dots"},        {"arrow", "arrow_other"},
          {"arrow", "star"},           {"star", "star_seven"},        {"star", "graph_cos"},
          {"text_other", "dots_down"}, {"arrow_other", "square_shift"}, {"graph_cos", "still"}};
}

}  // namespace

TEST_CASE("S_SSIM matches the Python peer on real rendered video pairs", "[integration]") {
  mtk::testing::require_python_peers();
  const auto dir = mtk::fs::make_temp_dir(mtk::testing::metrics_scratch_dir(), "parity-");

  // Render (cached) and decode every fixture; dump our gray frames for the frames-mode peer.
  std::map<std::string, stdfs::path> video, dump;
  std::map<std::string, std::vector<mtk::video::Image>> frames;
  for (const auto& s : mtk::testing::fixture_scenes()) {
    video[s.name] = mtk::testing::render_scene(s.code, s.scene, s.args);
    frames[s.name] = mtk::video::load_frames(video[s.name]).gray;
    dump[s.name] = dir / (s.name + ".dump");
    mtk::video::write_frame_dump(dump[s.name], frames[s.name]);
  }
  REQUIRE(frames.size() >= 7);

  const auto pairs = parity_pairs();
  REQUIRE(pairs.size() >= 20);
  // Frames mode for every pair (SSIM + DTW parity independent of decoding), cv2 decoding for a
  // few pairs (the whole paper pipeline), and the decode comparison for every video.
  const std::vector<size_t> video_mode = {1, 5, 15};
  nlohmann::json jobs = nlohmann::json::array();
  for (const auto& p : pairs) jobs.push_back({{"kind", "frames"}, {"ref", dump[p.ref].string()}, {"gen", dump[p.gen].string()}});
  for (size_t k : video_mode)
    jobs.push_back({{"kind", "videos"}, {"ref", video[pairs[k].ref].string()}, {"gen", video[pairs[k].gen].string()}});
  for (const auto& [name, path] : video)
    jobs.push_back({{"kind", "decode_compare"}, {"video", path.string()}, {"dump", dump[name].string()}});
  const auto py = mtk::testing::run_python_peer(jobs, 2);
  REQUIRE(py.size() == jobs.size());

  // Our FastDTW follows whichever fastdtw build the peer imports (pure Python from pip: the default).
  SSimScoreOptions opts;
  opts.dtw_impl = py[0].value("fastdtw_module", "") == "fastdtw._fastdtw" ? FastDtwImpl::cython : FastDtwImpl::python;
  double max_entry = 0.0, max_entry64 = 0.0, max_score = 0.0, max_ab = 0.0, max_dist = 0.0;
  size_t entries = 0, same_path = 0, same_ab = 0, f32_same = 0;
  double ours_s = 0.0, py_s = 0.0;
  for (size_t k = 0; k < pairs.size(); ++k) {
    const auto& p = pairs[k];
    const auto& r = py[k];
    INFO("pair " << p.ref << " vs " << p.gen << ": " << r.dump().substr(0, 400));
    REQUIRE_FALSE(r.contains("error"));
    const auto t0 = std::chrono::steady_clock::now();
    const SSimScore s = s_ssim(frames[p.ref], frames[p.gen], opts);
    const Matrix m = ssim_matrix(frames[p.ref], frames[p.gen]);
    ours_s += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / 2;
    py_s += r["compute_s"].get<double>();
    REQUIRE(r["n"].get<size_t>() == m.rows);
    REQUIRE(r["m"].get<size_t>() == m.cols);
    for (size_t i = 0; i < m.rows; ++i)
      for (size_t j = 0; j < m.cols; ++j) {
        const double d = std::fabs(m.at(i, j) - r["matrix"][i][j].get<double>());  // paper's float32
        const double d64 = std::fabs(m.at(i, j) - r["matrix64"][i][j].get<double>());  // skimage's float64
        max_entry = std::max(max_entry, d);
        max_entry64 = std::max(max_entry64, d64);
        ++entries;
        CHECK(d <= 1e-4);
        CHECK(d64 <= 1e-9);
        f32_same += static_cast<float>(m.at(i, j)) == r["matrix"][i][j].get<float>();
      }
    bool ab_equal = true;
    for (size_t i = 0; i < s.a.size(); ++i) {
      max_ab = std::max(max_ab, std::fabs(s.a[i] - r["a"][i].get<double>()));
      ab_equal = ab_equal && s.a[i] == r["a"][i].get<double>();
    }
    for (size_t j = 0; j < s.b.size(); ++j) {
      max_ab = std::max(max_ab, std::fabs(s.b[j] - r["b"][j].get<double>()));
      ab_equal = ab_equal && s.b[j] == r["b"][j].get<double>();
    }
    std::vector<std::pair<size_t, size_t>> path;
    for (const auto& e : r["path"]) path.emplace_back(e[0].get<size_t>(), e[1].get<size_t>());
    const double score_diff = std::fabs(s.score - r["score"].get<double>());
    max_score = std::max(max_score, score_diff);
    max_dist = std::max(max_dist, std::fabs(s.dtw_distance - r["distance"].get<double>()));
    CHECK(score_diff <= 1e-4);
    if (ab_equal) {  // same float32 sequences: the DTW must agree exactly
      ++same_ab;
      CHECK(s.dtw_distance == r["distance"].get<double>());
      CHECK(s.path == path);
    }
    same_path += s.path == path;
  }

  // The paper's whole pipeline (cv2 decoding) against ours (libav decoding) on a few pairs.
  double max_pipeline = 0.0;
  for (size_t q = 0; q < video_mode.size(); ++q) {
    const auto& p = pairs[video_mode[q]];
    const auto& r = py[pairs.size() + q];
    INFO("pipeline pair " << p.ref << " vs " << p.gen << ": " << r.dump().substr(0, 300));
    REQUIRE_FALSE(r.contains("error"));
    const double d = std::fabs(s_ssim(frames[p.ref], frames[p.gen], opts).score - r["score"].get<double>());
    max_pipeline = std::max(max_pipeline, d);
    CHECK(d <= 1e-4);
  }
  int max_decode = 0;
  for (size_t q = pairs.size() + video_mode.size(); q < py.size(); ++q) {
    INFO(py[q].dump());
    REQUIRE_FALSE(py[q].contains("error"));
    CHECK(py[q]["n_cv2"] == py[q]["n_ours"]);
    REQUIRE_FALSE(py[q]["max_abs_diff"].is_null());
    max_decode = std::max(max_decode, py[q]["max_abs_diff"].get<int>());
  }
  CHECK(max_decode <= 1);
  WARN("S_SSIM parity over " << pairs.size() << " real video pairs (" << entries << " SSIM entries): max |SSIM - skimage float64| = "
                              << max_entry64 << ", max |SSIM - paper's float32 matrix| = " << max_entry << " (float32-rounded equal: " << f32_same << "/" << entries << "), max |a,b diff| = " << max_ab << " (" << same_ab
                              << " pairs bit-identical), max |DTW dist diff| = " << max_dist
                              << ", paths identical " << same_path << "/" << pairs.size()
                              << ", max |S_SSIM diff| = " << max_score << "; cv2-decoded pipeline max |S_SSIM diff| = "
                              << max_pipeline << ", max |gray ours - cv2| = " << max_decode << " over "
                              << video.size() << " videos; compute time ours " << ours_s << " s vs Python "
                              << py_s << " s (" << mtk::hardware_threads() << " threads)");
}
