// SSIM against a direct transcription of scikit-image's structural_similarity (float64 box filters,
// computed naively here), on random, sparse (Manim-like) and dense images.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>
#include <random>

#include "mtk/core/error.hpp"
#include "mtk/metrics/ssim.hpp"

using mtk::metrics::Matrix;
using mtk::metrics::SsimOptions;
using mtk::video::Image;

namespace {

// skimage.metrics.structural_similarity for 2-D images, uniform filter, data_range given.
double skimage_ssim(const Image& a, const Image& b, const SsimOptions& o) {
  const int w = a.width, h = a.height, win = o.win_size, pad = (win - 1) / 2;
  const double np_ = static_cast<double>(win) * win;
  const double cov_norm = o.sample_covariance ? np_ / (np_ - 1) : 1.0;
  const double C1 = std::pow(o.k1 * o.data_range, 2), C2 = std::pow(o.k2 * o.data_range, 2);
  double total = 0.0;
  long count = 0;
  for (int y = pad; y < h - pad; ++y) {
    for (int x = pad; x < w - pad; ++x) {
      double ux = 0, uy = 0, uxx = 0, uyy = 0, uxy = 0;
      for (int dy = -pad; dy <= pad; ++dy)
        for (int dx = -pad; dx <= pad; ++dx) {
          const double p = a.pixels[(y + dy) * w + x + dx], q = b.pixels[(y + dy) * w + x + dx];
          ux += p;
          uy += q;
          uxx += p * p;
          uyy += q * q;
          uxy += p * q;
        }
      ux /= np_;
      uy /= np_;
      uxx /= np_;
      uyy /= np_;
      uxy /= np_;
      const double vx = cov_norm * (uxx - ux * ux), vy = cov_norm * (uyy - uy * uy),
                   vxy = cov_norm * (uxy - ux * uy);
      const double A1 = 2 * ux * uy + C1, A2 = 2 * vxy + C2, B1 = ux * ux + uy * uy + C1, B2 = vx + vy + C2;
      total += (A1 * A2) / (B1 * B2);
      ++count;
    }
  }
  return total / count;
}

Image make(int w, int h) {
  Image im;
  im.width = w;
  im.height = h;
  im.channels = 1;
  im.pixels.assign(static_cast<size_t>(w) * h, 0);
  return im;
}

Image random_image(int w, int h, std::mt19937& rng) {
  Image im = make(w, h);
  std::uniform_int_distribution<int> d(0, 255);
  for (auto& p : im.pixels) p = static_cast<uint8_t>(d(rng));
  return im;
}

// Black background with a few filled shapes and anti-aliased-looking edges, like a Manim frame.
Image sparse_image(int w, int h, std::mt19937& rng) {
  Image im = make(w, h);
  cv::Mat m(h, w, CV_8UC1, im.pixels.data());
  std::uniform_int_distribution<int> px(0, w - 1), py(0, h - 1), r(3, std::max(4, std::min(w, h) / 5)),
      v(30, 255);
  for (int k = 0; k < 3; ++k) cv::circle(m, {px(rng), py(rng)}, r(rng), cv::Scalar(v(rng)), -1, cv::LINE_AA);
  cv::rectangle(m, {px(rng), py(rng)}, {px(rng), py(rng)}, cv::Scalar(v(rng)), 2, cv::LINE_AA);
  return im;
}

}  // namespace

TEST_CASE("ssim matches skimage's formula on random, sparse and dense images", "[unit]") {
  std::mt19937 rng(7);
  double worst = 0.0;
  int cases = 0;
  for (int trial = 0; trial < 12; ++trial) {
    const int w = 20 + static_cast<int>(rng() % 60), h = 12 + static_cast<int>(rng() % 40);
    std::vector<std::pair<Image, Image>> pairs = {
        {random_image(w, h, rng), random_image(w, h, rng)},
        {sparse_image(w, h, rng), sparse_image(w, h, rng)},
        {sparse_image(w, h, rng), make(w, h)},
        {make(w, h), make(w, h)},
    };
    Image noisy = pairs[1].first;
    for (auto& p : noisy.pixels) p = static_cast<uint8_t>(std::min(255, p + static_cast<int>(rng() % 9)));
    pairs.push_back({pairs[1].first, noisy});
    for (const auto& [a, b] : pairs) {
      for (int win : {3, 7, 11}) {
        if (win > w || win > h) continue;
        SsimOptions o;
        o.win_size = win;
        const double ours = mtk::metrics::ssim(a, b, o);
        const double ref = skimage_ssim(a, b, o);
        worst = std::max(worst, std::fabs(ours - ref));
        ++cases;
        REQUIRE(ours == Approx(ref).margin(1e-12));
      }
    }
  }
  SsimOptions pop;
  pop.sample_covariance = false;
  pop.k1 = 0.02;
  pop.k2 = 0.05;
  pop.data_range = 200;
  Image a = sparse_image(64, 48, rng), b = random_image(64, 48, rng);
  CHECK(mtk::metrics::ssim(a, b, pop) == Approx(skimage_ssim(a, b, pop)).margin(1e-12));
  WARN("ssim vs naive skimage transcription: max |diff| = " << worst << " over " << cases << " cases");
}

TEST_CASE("ssim of identical frames is exactly 1, black vs black too", "[unit]") {
  std::mt19937 rng(3);
  const Image a = sparse_image(90, 60, rng);
  CHECK(mtk::metrics::ssim(a, a) == 1.0);
  CHECK(mtk::metrics::ssim(make(30, 30), make(30, 30)) == 1.0);
  const Image r = random_image(40, 30, rng);
  CHECK(mtk::metrics::ssim(r, r) == 1.0);
}

TEST_CASE("a frame of another size is resized with INTER_AREA first", "[unit]") {
  std::mt19937 rng(5);
  const Image a = sparse_image(160, 90, rng);
  const Image big = sparse_image(320, 180, rng);
  cv::Mat src(big.height, big.width, CV_8UC1, const_cast<uint8_t*>(big.pixels.data())), dst;
  cv::resize(src, dst, cv::Size(160, 90), 0, 0, cv::INTER_AREA);
  Image resized = make(160, 90);
  std::memcpy(resized.pixels.data(), dst.data, resized.pixels.size());
  CHECK(mtk::metrics::ssim(a, big) == mtk::metrics::ssim(a, resized));
  const Matrix m = mtk::metrics::ssim_matrix({a}, {big, resized});
  CHECK(m.at(0, 0) == m.at(0, 1));
}

TEST_CASE("ssim_matrix equals pairwise ssim, for any thread count, with or without reuse", "[unit]") {
  std::mt19937 rng(11);
  std::vector<Image> ref, gen;
  for (int k = 0; k < 5; ++k) ref.push_back(sparse_image(120, 70, rng));
  ref.push_back(ref[1]);  // repeated frames (a paused video)
  ref.push_back(make(120, 70));
  for (int k = 0; k < 4; ++k) gen.push_back(sparse_image(120, 70, rng));
  gen.push_back(ref[0]);
  gen.push_back(gen[0]);
  gen.push_back(random_image(120, 70, rng));
  const Matrix m1 = mtk::metrics::ssim_matrix(ref, gen, {}, 1);
  SsimOptions no_reuse;
  no_reuse.reuse_identical_frames = false;
  const Matrix m2 = mtk::metrics::ssim_matrix(ref, gen, no_reuse, 2);
  const Matrix m3 = mtk::metrics::ssim_matrix(ref, gen, {}, 0);
  SsimOptions tiny_budget;  // forces blocks of one or two frames on both sides
  tiny_budget.stats_budget_bytes = 1;
  const Matrix m4 = mtk::metrics::ssim_matrix(ref, gen, tiny_budget, 2);
  REQUIRE(m1.rows == ref.size());
  REQUIRE(m1.cols == gen.size());
  for (size_t i = 0; i < ref.size(); ++i)
    for (size_t j = 0; j < gen.size(); ++j) {
      const double s = mtk::metrics::ssim(ref[i], gen[j]);
      CHECK(m1.at(i, j) == s);
      CHECK(m2.at(i, j) == s);
      CHECK(m3.at(i, j) == s);
      CHECK(m4.at(i, j) == s);
    }
  CHECK(m1.at(0, 4) == 1.0);
  const Matrix empty = mtk::metrics::ssim_matrix({}, gen);
  CHECK(empty.rows == 0);
  CHECK(empty.v.empty());
}

TEST_CASE("ssim rejects colour, empty and too-small frames clearly", "[unit]") {
  Image gray = make(20, 20), color = make(20, 20), tiny = make(5, 5), none;
  color.channels = 3;
  color.pixels.resize(20 * 20 * 3);
  CHECK_THROWS_AS(mtk::metrics::ssim(gray, color), mtk::Error);
  CHECK_THROWS_AS(mtk::metrics::ssim(tiny, tiny), mtk::Error);
  CHECK_THROWS_AS(mtk::metrics::ssim(none, gray), mtk::Error);
  SsimOptions even;
  even.win_size = 6;
  CHECK_THROWS_AS(mtk::metrics::ssim(gray, gray, even), mtk::Error);
  try {
    mtk::metrics::ssim(gray, color);
  } catch (const mtk::Error& e) {
    CHECK(std::string(e.what()).find("grayscale") != std::string::npos);
  }
}
