// DTW / FastDTW: known answers, invariants, and identical distances and paths to the `fastdtw`
// package on many random sequences (through tests/python/ssim_reference.py --batch).
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <cmath>
#include <random>

#include "mtk/core/error.hpp"
#include "mtk/metrics/dtw.hpp"
#include "python_peer.hpp"

using namespace mtk::metrics;
using Path = std::vector<std::pair<size_t, size_t>>;

namespace {

Path path_from_json(const nlohmann::json& j) {
  Path p;
  for (const auto& e : j) p.emplace_back(e[0].get<size_t>(), e[1].get<size_t>());
  return p;
}

std::vector<double> gen_seq(size_t n, int kind, std::mt19937& rng) {
  std::vector<double> v(n);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  for (size_t i = 0; i < n; ++i) {
    switch (kind) {
      case 0: v[i] = u(rng); break;                                              // continuous
      case 1: v[i] = static_cast<double>(rng() % 3); break;                      // many exact ties
      case 2: v[i] = static_cast<float>(0.9 + 0.1 * u(rng)); break;              // SSIM-like, float32
      default: v[i] = static_cast<double>(i % 4 == 0 ? 1.0 : 0.5); break;        // periodic
    }
  }
  return v;
}

nlohmann::json seq_json(const std::vector<double>& v) {
  nlohmann::json j = nlohmann::json::array();
  for (double x : v) j.push_back(nlohmann::json::array({x}));
  return j;
}

}  // namespace

TEST_CASE("fastdtw reproduces the package's documented example", "[unit]") {
  const std::vector<double> x = {1, 2, 3, 4, 5}, y = {2, 3, 4};
  for (auto impl : {FastDtwImpl::python, FastDtwImpl::cython}) {
    const auto r = fastdtw(x, y, 1, impl);
    CHECK(r.distance == 2.0);
    CHECK(r.path == Path{{0, 0}, {1, 0}, {2, 1}, {3, 2}, {4, 2}});
    const auto e = dtw(x, y, impl);
    CHECK(e.distance == 2.0);
    CHECK(e.path == Path{{0, 0}, {1, 0}, {2, 1}, {3, 2}, {4, 2}});
  }
}

TEST_CASE("dtw invariants: exact <= fast, a large radius is exact, vectors = 1-D", "[unit]") {
  std::mt19937 rng(1);
  for (int t = 0; t < 200; ++t) {
    const size_t n = 1 + rng() % 40, m = 1 + rng() % 40;
    const auto x = gen_seq(n, t % 3, rng), y = gen_seq(m, (t + 1) % 3, rng);
    const auto exact = dtw(x, y);
    const auto fast = fastdtw(x, y, 1);
    CHECK(exact.distance <= fast.distance + 1e-12);
    CHECK(fastdtw(x, y, static_cast<int>(std::max(n, m))).distance == exact.distance);
    // The path is monotone, connected, from (0,0) to (n-1,m-1), and its cost is the distance.
    REQUIRE(fast.path.front() == std::make_pair(size_t(0), size_t(0)));
    REQUIRE(fast.path.back() == std::make_pair(n - 1, m - 1));
    double cost = 0.0;
    for (size_t k = 0; k < fast.path.size(); ++k) {
      cost += std::fabs(x[fast.path[k].first] - y[fast.path[k].second]);
      if (k) {
        const auto di = fast.path[k].first - fast.path[k - 1].first, dj = fast.path[k].second - fast.path[k - 1].second;
        CHECK(di <= 1);
        CHECK(dj <= 1);
        CHECK(di + dj >= 1);
      }
    }
    CHECK(cost == Approx(fast.distance).margin(1e-9));
    // The same data as a sequence of 1-vectors through the generic cost gives identical results.
    Seq sx, sy;
    for (double v : x) sx.push_back({v});
    for (double v : y) sy.push_back({v});
    const auto g = fastdtw(sx, sy, abs_cost, 1);
    CHECK(g.distance == fast.distance);
    CHECK(g.path == fast.path);
  }
}

TEST_CASE("dtw rejects empty sequences, mixed dimensions and negative radius", "[unit]") {
  CHECK_THROWS_AS(fastdtw(std::vector<double>{}, std::vector<double>{1.0}), mtk::Error);
  CHECK_THROWS_AS(dtw(std::vector<double>{1.0}, std::vector<double>{}), mtk::Error);
  CHECK_THROWS_AS(fastdtw(std::vector<double>{1, 2}, std::vector<double>{1, 2}, -1), mtk::Error);
  CHECK_THROWS_AS(fastdtw(Seq{{1.0, 2.0}, {1.0}}, Seq{{1.0, 2.0}}, abs_cost), mtk::Error);
  CHECK(cosine_cost({1, 0}, {0, 1}) == Approx(1.0));
  CHECK(cosine_cost({1, 1}, {2, 2}) == Approx(0.0).margin(1e-15));
  CHECK(one_minus_dot_cost({0.6, 0.8}, {0.6, 0.8}) == Approx(0.0).margin(1e-15));
}

TEST_CASE("fastdtw gives the package's distances and paths on random sequences", "[unit][python]") {
  // `pip install fastdtw==0.3.4` gives the pure-Python module (our default); the Cython extension
  // is checked the same way when it is what gets imported (e.g. PYTHONPATH to a compiled build).
  const auto probe = mtk::testing::run_python_peer(nlohmann::json::array(
      {{{"kind", "dtw"}, {"x", seq_json({1, 2, 3, 4, 5})}, {"y", seq_json({2, 3, 4})}, {"radius", 1}}}));
  const std::string module = probe.at(0).value("fastdtw_module", "?");
  REQUIRE((module == "fastdtw.fastdtw" || module == "fastdtw._fastdtw"));
  const FastDtwImpl impl = module == "fastdtw._fastdtw" ? FastDtwImpl::cython : FastDtwImpl::python;
  std::mt19937 rng(2024);
  struct Case {
    std::vector<double> x, y;
    int radius;
  };
  std::vector<Case> cases;
  const std::vector<size_t> lens = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 15, 16, 17, 31, 32, 33};
  for (size_t n : lens)
    for (size_t m : lens) {
      const int kind = static_cast<int>(rng() % 4);
      cases.push_back({gen_seq(n, kind, rng), gen_seq(m, kind, rng), 1});
    }
  for (int t = 0; t < 60; ++t) {
    const size_t n = 1 + rng() % 300, m = 1 + rng() % 300;
    const int kind = t % 4;
    cases.push_back({gen_seq(n, kind, rng), gen_seq(m, kind, rng), t % 5 == 0 ? 2 : (t % 7 == 0 ? 3 : 1)});
  }
  cases.push_back({gen_seq(1000, 0, rng), gen_seq(997, 0, rng), 1});
  cases.push_back({gen_seq(513, 1, rng), gen_seq(128, 1, rng), 1});
  // Radius 0: the pure-Python module raises on some lengths (as we do); the extension can crash.
  if (impl == FastDtwImpl::python)
    for (int t = 0; t < 20; ++t)
      cases.push_back({gen_seq(1 + rng() % 40, t % 4, rng), gen_seq(1 + rng() % 40, t % 4, rng), 0});

  nlohmann::json jobs = nlohmann::json::array();
  for (const auto& c : cases)
    jobs.push_back({{"kind", "dtw"}, {"x", seq_json(c.x)}, {"y", seq_json(c.y)}, {"radius", c.radius},
                    {"dist", "euclidean"}});
  // Vector sequences (L1 cost, summed in order as abs_cost does), odd dimensions and lengths.
  std::vector<std::pair<Seq, Seq>> vcases;
  for (int t = 0; t < 40; ++t) {
    const size_t dim = 1 + rng() % 5, n = 1 + rng() % 60, m = 1 + rng() % 60;
    Seq x(n, std::vector<double>(dim)), y(m, std::vector<double>(dim));
    for (auto& v : x)
      for (auto& e : v) e = t % 2 ? static_cast<double>(rng() % 3) : std::uniform_real_distribution<double>()(rng);
    for (auto& v : y)
      for (auto& e : v) e = t % 2 ? static_cast<double>(rng() % 3) : std::uniform_real_distribution<double>()(rng);
    vcases.push_back({x, y});
    jobs.push_back({{"kind", "dtw"}, {"x", x}, {"y", y}, {"radius", 1}, {"dist", "l1"}});
  }

  const auto res = mtk::testing::run_python_peer(jobs, 2);
  REQUIRE(res.size() == jobs.size());
  REQUIRE(res[0].value("fastdtw_module", "?") == module);
  size_t same = 0, both_fail = 0;
  for (size_t k = 0; k < cases.size(); ++k) {
    const auto& c = cases[k];
    INFO("case " << k << ": lengths " << c.x.size() << " x " << c.y.size() << ", radius " << c.radius << ", python "
                 << res[k].dump().substr(0, 300));
    bool ours_failed = false;
    DtwResult r;
    try {
      r = fastdtw(c.x, c.y, c.radius, impl);
    } catch (const mtk::Error&) {
      ours_failed = true;
    }
    if (res[k].contains("error")) {
      CHECK(ours_failed);  // the package fails too (radius 0 on some lengths)
      ++both_fail;
      continue;
    }
    REQUIRE_FALSE(ours_failed);
    CHECK(r.distance == res[k]["distance"].get<double>());
    CHECK(r.path == path_from_json(res[k]["path"]));
    same += r.distance == res[k]["distance"].get<double>() && r.path == path_from_json(res[k]["path"]);
  }
  for (size_t k = 0; k < vcases.size(); ++k) {
    const auto& py = res[cases.size() + k];
    INFO("vector case " << k << ": " << py.dump().substr(0, 300));
    REQUIRE_FALSE(py.contains("error"));
    const auto r = fastdtw(vcases[k].first, vcases[k].second, abs_cost, 1, impl);
    CHECK(r.distance == py["distance"].get<double>());
    CHECK(r.path == path_from_json(py["path"]));
    same += r.distance == py["distance"].get<double>() && r.path == path_from_json(py["path"]);
  }
  WARN("fastdtw parity with " << module << ": " << same << " identical (distance and path) of "
                              << jobs.size() - both_fail << " cases; " << both_fail
                              << " radius-0 cases fail in both");
}
