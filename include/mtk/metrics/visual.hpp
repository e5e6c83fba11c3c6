#pragma once
// The paper's frame-level visual similarity terms (../shared/DESIGN.md "Fidelity").
#include <string>
#include <vector>

#include "mtk/metrics/dtw.hpp"
#include "mtk/metrics/ssim.hpp"
#include "mtk/video/image.hpp"

namespace mtk::metrics {

struct SSimScoreOptions {
  SsimOptions ssim;
  bool exact_dtw = false;  // the paper uses FastDTW (radius 1)
  int radius = 1;
  double alpha = 5.0;      // S_SSIM = exp(-alpha * dist / max(n, m))
  unsigned threads = 0;
  // The paper's code stores the SSIM matrix as float32 (np.zeros(..., dtype=np.float32)), so a_i
  // and b_j are float32-rounded before the DTW. Off: use the double values.
  bool float32_matrix = true;
  FastDtwImpl dtw_impl = FastDtwImpl::python;  // the fastdtw build the paper's pip install gives
};

struct SSimScore {
  double score = 0.0;       // S_SSIM in [0, 1]
  double dtw_distance = 0.0;
  size_t n = 0, m = 0;      // reference / generated frame counts
  std::vector<double> a;    // a_i = max_j SSIM(ref_i, gen_j)
  std::vector<double> b;    // b_j = max_i SSIM(ref_i, gen_j)
  std::vector<std::pair<size_t, size_t>> path;  // the DTW warping path between a and b
};

// Grayscale frames of the reference and the generated video. Either side empty -> score 0.
SSimScore s_ssim(const std::vector<video::Image>& ref, const std::vector<video::Image>& gen,
                 const SSimScoreOptions& opts = {});
SSimScore s_ssim_from_matrix(const Matrix& m, const SSimScoreOptions& opts = {});

}  // namespace mtk::metrics
