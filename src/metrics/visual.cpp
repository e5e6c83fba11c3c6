// S_SSIM as the paper's code computes it (VideoComparator.dtw_ssim_score):
//   seqA = matrix.max(axis=1), seqB = matrix.max(axis=0) (float32 matrix),
//   dist, path = fastdtw(seqA[:, None], seqB[:, None], dist=euclidean)   (radius 1; = |x - y|)
//   S_SSIM = exp(-5 * (dist / max(n, m))).
#include "mtk/metrics/visual.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "mtk/core/error.hpp"

namespace mtk::metrics {

SSimScore s_ssim_from_matrix(const Matrix& m, const SSimScoreOptions& opts) {
  SSimScore out;
  out.n = m.rows;
  out.m = m.cols;
  if (m.rows == 0 || m.cols == 0) return out;  // nothing to compare: score 0
  if (m.v.size() != m.rows * m.cols) throw Error("s_ssim: matrix size does not match its shape");
  auto round = [&](double v) { return opts.float32_matrix ? static_cast<double>(static_cast<float>(v)) : v; };
  out.a.assign(m.rows, -std::numeric_limits<double>::infinity());
  out.b.assign(m.cols, -std::numeric_limits<double>::infinity());
  for (size_t i = 0; i < m.rows; ++i) {
    for (size_t j = 0; j < m.cols; ++j) {
      const double v = round(m.at(i, j));
      // numpy's max: NaN propagates
      if (std::isnan(v) || v > out.a[i]) out.a[i] = std::isnan(out.a[i]) ? out.a[i] : v;
      if (std::isnan(v) || v > out.b[j]) out.b[j] = std::isnan(out.b[j]) ? out.b[j] : v;
    }
  }
  DtwResult d = opts.exact_dtw ? dtw(out.a, out.b, opts.dtw_impl) : fastdtw(out.a, out.b, opts.radius, opts.dtw_impl);
  out.dtw_distance = d.distance;
  out.path = std::move(d.path);
  const double norm = static_cast<double>(std::max(m.rows, m.cols));
  out.score = std::exp(-opts.alpha * (d.distance / norm));
  return out;
}

SSimScore s_ssim(const std::vector<video::Image>& ref, const std::vector<video::Image>& gen,
                 const SSimScoreOptions& opts) {
  if (ref.empty() || gen.empty()) {
    SSimScore out;
    out.n = ref.size();
    out.m = gen.size();
    return out;
  }
  return s_ssim_from_matrix(ssim_matrix(ref, gen, opts.ssim, opts.threads), opts);
}

}  // namespace mtk::metrics
