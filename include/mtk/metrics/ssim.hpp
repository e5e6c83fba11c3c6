#pragma once
// SSIM exactly as scikit-image's structural_similarity with its defaults (win_size 7, uniform
// window, K1 0.01, K2 0.03, sample covariance, data_range 255, mean over the image with a
// (win_size-1)/2 border cropped), on 8-bit grayscale frames. Window sums are exact integers, so the
// result agrees with skimage to floating-point rounding (about 1e-12). win_size: odd, 3..19.
// Throws mtk::Error for colour, empty or too-small frames.
#include <cstddef>
#include <memory>
#include <vector>

#include "mtk/video/image.hpp"

namespace mtk::metrics {

struct SsimOptions {
  int win_size = 7;
  double k1 = 0.01;
  double k2 = 0.03;
  double data_range = 255.0;
  bool sample_covariance = true;
  // ssim_matrix only: byte-identical frames (a paused video) are computed once. Results are the
  // same either way; this only saves time.
  bool reuse_identical_frames = true;
  // ssim_matrix only: memory for per-frame statistics, per side (reference / generated). Frames
  // beyond it are processed in blocks (same results). Manim frames need far less than 16 B/pixel.
  size_t stats_budget_bytes = size_t(256) << 20;
};

// One pair. Frames of different sizes: b is resized to a's size with INTER_AREA first.
double ssim(const video::Image& a, const video::Image& b, const SsimOptions& opts = {});

// Row-major n x m matrix of SSIM(ref[i], gen[j]).
struct Matrix {
  size_t rows = 0, cols = 0;
  std::vector<double> v;
  double at(size_t i, size_t j) const { return v[i * cols + j]; }
};

// All pairs. Per-frame sums are computed once, so each pair costs one filtered product;
// pairs are spread over `threads` threads (0 = all cores).
Matrix ssim_matrix(const std::vector<video::Image>& ref, const std::vector<video::Image>& gen,
                   const SsimOptions& opts = {}, unsigned threads = 0);

// The SSIM map: the per-window values whose mean ssim() returns (same exact-integer arithmetic;
// the mean of the map equals ssim() up to summation order). The map is (w - win + 1) x
// (h - win + 1); at(o, q) is the window whose top-left pixel is (o, q), i.e. centred on image
// pixel (o + offset, q + offset), offset = (win_size - 1) / 2 (skimage's full map with the border
// cropped).
struct SsimMap {
  int width = 0, height = 0;
  int offset = 0;
  std::vector<double> v;  // row-major
  double at(int o, int q) const { return v[static_cast<size_t>(q) * width + o]; }
};

// One pair; b is resized to a's size (INTER_AREA) first, as ssim() does.
SsimMap ssim_map(const video::Image& a, const video::Image& b, const SsimOptions& opts = {});

// A frame's window statistics, computed once for maps against many other frames. Holds a pointer
// to `im`'s pixels: `im` must outlive it. Throws mtk::Error for a frame ssim() would reject.
class SsimFrame {
 public:
  explicit SsimFrame(const video::Image& im, const SsimOptions& opts = {});
  ~SsimFrame();
  SsimFrame(SsimFrame&&) noexcept;
  SsimFrame& operator=(SsimFrame&&) noexcept;
  int width() const;
  int height() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  friend void ssim_map(const SsimFrame& a, const SsimFrame& b, SsimMap& out, int first_row, int last_row);
};

// The map of a prepared pair into `out` (its buffer is reused). Both frames must have the same
// size and options (throws mtk::Error otherwise). Thread-safe for distinct `out`s. Only map rows
// [first_row, last_row] are computed (last_row < 0: to the end); other rows keep whatever the
// buffer held (it is sized for the whole map).
void ssim_map(const SsimFrame& a, const SsimFrame& b, SsimMap& out, int first_row = 0, int last_row = -1);

}  // namespace mtk::metrics
