#pragma once
// Dynamic time warping: exact DTW and FastDTW as the `fastdtw` Python package (0.3.4) computes it
// (same coarsening, window expansion and tie-breaking, so distances and paths match).
//
// The package has two implementations that give different answers on some inputs: the pure-Python
// module (fastdtw/fastdtw.py) and the Cython extension (fastdtw/_fastdtw.pyx). `pip install
// fastdtw==0.3.4` builds from the source archive without Cython or numpy at build time, so it
// installs the pure-Python one (a py3-none-any wheel): that is the default here. The Cython one
// differs in tie-breaking (it prefers the diagonal on ties, Python prefers (i-1, j)), in the window
// rows past the coarse path's end, and it never takes the diagonal into the cell just right of the
// previous row's window.
//
// Memory is O(window): per-row column ranges and one cost + one back-pointer byte per window cell.
#include <cstddef>
#include <functional>
#include <utility>
#include <vector>

namespace mtk::metrics {

struct DtwResult {
  double distance = 0.0;
  std::vector<std::pair<size_t, size_t>> path;
};

// Sequences of vectors (a 1-D sequence has vectors of length 1); cost(x_i, y_j) >= 0.
using Seq = std::vector<std::vector<double>>;
using Cost = std::function<double(const std::vector<double>&, const std::vector<double>&)>;

enum class FastDtwImpl {
  python,  // fastdtw/fastdtw.py, what `pip install fastdtw==0.3.4` imports (default)
  cython,  // fastdtw/_fastdtw.pyx, when the extension was compiled
};

double abs_cost(const std::vector<double>& a, const std::vector<double>& b);  // |a-b| (1-D) / L1
double cosine_cost(const std::vector<double>& a, const std::vector<double>& b);  // 1 - cos
// 1 - dot(a, b): the paper's CLIP cost (`lambda x, y: 1 - np.dot(x, y)` on L2-normalised vectors).
double one_minus_dot_cost(const std::vector<double>& a, const std::vector<double>& b);

// Empty sequences, vectors of different lengths or a negative radius throw mtk::Error (the package
// raises too).
DtwResult dtw(const Seq& x, const Seq& y, const Cost& cost);
DtwResult fastdtw(const Seq& x, const Seq& y, const Cost& cost, int radius = 1);
DtwResult dtw(const Seq& x, const Seq& y, const Cost& cost, FastDtwImpl impl);
DtwResult fastdtw(const Seq& x, const Seq& y, const Cost& cost, int radius, FastDtwImpl impl);

// 1-D conveniences with |x - y| (the paper's S_SSIM call: scipy's euclidean on 1-vectors is |x - y|).
DtwResult dtw(const std::vector<double>& x, const std::vector<double>& y);
DtwResult fastdtw(const std::vector<double>& x, const std::vector<double>& y, int radius = 1);
DtwResult dtw(const std::vector<double>& x, const std::vector<double>& y, FastDtwImpl impl);
DtwResult fastdtw(const std::vector<double>& x, const std::vector<double>& y, int radius, FastDtwImpl impl);

}  // namespace mtk::metrics
