// S_SSIM parity with the paper's Python pipeline on real ManimBench references: references
// against other references and against recoloured variants, all rendered by our sandbox.
#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>

#include "../metrics/python_peer.hpp"
#include "mtk/data/dataset.hpp"
#include "mtk/metrics/visual.hpp"
#include "mtk/render/cache.hpp"
#include "mtk/render/pool.hpp"
#include "mtk/video/decode.hpp"

namespace stdfs = std::filesystem;
using namespace mtk;

namespace {

// The first colour constant found in the code, replaced everywhere by another one.
std::string recolour(const std::string& code) {
  static const std::vector<std::pair<std::string, std::string>> swaps = {
      {"BLUE", "YELLOW"}, {"RED", "GREEN"}, {"GREEN", "RED"}, {"YELLOW", "BLUE"},
      {"WHITE", "ORANGE"}, {"ORANGE", "WHITE"}, {"PURPLE", "GOLD"}, {"TEAL", "MAROON"}};
  for (const auto& [from, to] : swaps) {
    if (code.find(from) == std::string::npos) continue;
    std::string out = code;
    for (size_t p = 0; (p = out.find(from, p)) != std::string::npos; p += to.size()) out.replace(p, from.size(), to);
    return out;
  }
  return {};
}

}  // namespace

TEST_CASE("S_SSIM parity with the paper's Python pipeline on ManimBench references", "[integration]") {
  mtk::testing::require_python_peers();
  if (!stdfs::exists(fs::project_root() / "data" / "manimbench" / "manimbench.jsonl"))
    FAIL("ManimBench JSONL missing: run scripts/setup.sh with ../shared/manimbench present");
  auto tasks = data::load_dataset("manimbench", "test");

  render::RenderPool pool(render::RenderOptions{}, std::make_shared<render::RenderCache>());
  std::vector<render::RenderJob> jobs;
  for (const auto& t : tasks) jobs.push_back({t.code, "", t.id});
  auto refs = pool.render_all(jobs);

  // Short videos only (the Python side costs about 80 ms per SSIM), with a colour to swap.
  struct Item {
    std::string id;
    stdfs::path ref, variant;
  };
  std::vector<Item> items;
  std::vector<render::RenderJob> variant_jobs;
  for (size_t k = 0; k < tasks.size() && items.size() < 8; ++k) {
    if (!refs[k].success) continue;
    auto n = video::load_frames(refs[k].output).size();
    std::string v = recolour(tasks[k].code);
    if (n < 2 || n > 12 || v.empty()) continue;
    items.push_back({tasks[k].id, refs[k].output, {}});
    variant_jobs.push_back({v, "", tasks[k].id + "-recoloured"});
  }
  REQUIRE(items.size() >= 7);
  auto variants = pool.render_all(variant_jobs);
  std::vector<std::pair<stdfs::path, stdfs::path>> pairs;
  for (size_t k = 0; k < items.size(); ++k) {
    if (variants[k].success) pairs.push_back({items[k].ref, variants[k].output});
    if (k + 1 < items.size()) {
      pairs.push_back({items[k].ref, items[k + 1].ref});
      pairs.push_back({items[k + 1].ref, items[k].ref});
    }
    if (k + 2 < items.size()) pairs.push_back({items[k].ref, items[k + 2].ref});
  }
  REQUIRE(pairs.size() >= 20);

  nlohmann::json pj = nlohmann::json::array();
  for (const auto& [r, g] : pairs) pj.push_back({{"kind", "videos"}, {"ref", r.string()}, {"gen", g.string()}});
  const auto py = mtk::testing::run_python_peer(pj, 2);
  REQUIRE(py.size() == pairs.size());

  metrics::SSimScoreOptions opts;
  opts.dtw_impl = py[0].value("fastdtw_module", "") == "fastdtw._fastdtw" ? metrics::FastDtwImpl::cython
                                                                          : metrics::FastDtwImpl::python;
  double max_entry = 0, max_score = 0;
  size_t entries = 0, below_one = 0;
  for (size_t k = 0; k < pairs.size(); ++k) {
    INFO(pairs[k].first << " vs " << pairs[k].second << ": " << py[k].dump().substr(0, 300));
    REQUIRE_FALSE(py[k].contains("error"));
    auto rf = video::load_frames(pairs[k].first).gray;
    auto gf = video::load_frames(pairs[k].second).gray;
    auto m = metrics::ssim_matrix(rf, gf);
    REQUIRE(m.rows == py[k]["n"].get<size_t>());
    REQUIRE(m.cols == py[k]["m"].get<size_t>());
    for (size_t i = 0; i < m.rows; ++i)
      for (size_t j = 0; j < m.cols; ++j) {
        double d = std::fabs(m.at(i, j) - py[k]["matrix"][i][j].get<double>());
        max_entry = std::max(max_entry, d);
        ++entries;
        CHECK(d <= 1e-4);
      }
    double s = metrics::s_ssim(rf, gf, opts).score;
    double d = std::fabs(s - py[k]["score"].get<double>());
    max_score = std::max(max_score, d);
    below_one += s < 1.0;
    CHECK(d <= 1e-4);
  }
  CHECK(below_one >= pairs.size() / 2);  // real differences, not identical videos
  WARN("ManimBench parity: " << pairs.size() << " pairs, " << entries << " SSIM entries, max |SSIM diff| = "
                             << max_entry << ", max |S_SSIM diff| = " << max_score);
}
