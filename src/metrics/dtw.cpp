// DTW and FastDTW reproducing the `fastdtw` package 0.3.4 (both of its implementations).
//
// Pure-Python module (FastDtwImpl::python), fastdtw/fastdtw.py:
//   __fastdtw(x, y, r): if len(x) < r + 2 or len(y) < r + 2: full dtw; else recurse on
//   __reduce_by_half (means of pairs, odd tail dropped), __expand_window around the coarse path and
//   __dtw over the window. __expand_window: the path cells dilated by r in both axes, each to its 4
//   children, then each row i scanned from start_j (the previous row's first column) taking the
//   first contiguous run. __dtw: D[i, j] = min((D[i-1, j] + d, ...), (D[i, j-1] + d, ...),
//   (D[i-1, j-1] + d, ...)) with Python's min (first minimum wins), cells outside the window inf.
//   Row i of the dilated set is the interval [2 (qmin - r), 2 (qmax + r) + 1], where qmin/qmax are
//   the extreme path columns in coarse rows i/2 - r .. i/2 + r (the path is monotone and connected),
//   so the window is computed per row without any set.
//
// Cython extension (FastDtwImpl::cython), fastdtw/_fastdtw.pyx: same recursion; window rows from
//   the coarse path's per-row bounds (rows past the coarse end copy the last row's bounds); the
//   recurrence compares the predecessors' costs (up < left and up < corner -> up, else left < corner
//   -> left, else corner: ties go to the diagonal), and the diagonal predecessor only counts when
//   prev_low < j <= prev_high.
#include "mtk/metrics/dtw.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "mtk/core/error.hpp"

namespace mtk::metrics {

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

// ---- Sequences: flat 1-D doubles (fast path) or vectors with a user cost.
struct Flat1 {
  std::vector<double> v;
  size_t size() const { return v.size(); }
  Flat1 half() const {
    Flat1 h;
    const size_t n = v.size() - v.size() % 2;
    h.v.reserve(n / 2);
    for (size_t i = 0; i < n; i += 2) h.v.push_back((v[i] + v[i + 1]) / 2);
    return h;
  }
};

struct Vecs {
  Seq v;
  size_t size() const { return v.size(); }
  Vecs half() const {
    Vecs h;
    const size_t n = v.size() - v.size() % 2;
    h.v.reserve(n / 2);
    for (size_t i = 0; i < n; i += 2) {
      std::vector<double> m(v[i].size());
      for (size_t k = 0; k < m.size(); ++k) m[k] = (v[i][k] + v[i + 1][k]) / 2;
      h.v.push_back(std::move(m));
    }
    return h;
  }
};

struct AbsCost1 {
  double operator()(const Flat1& x, size_t i, const Flat1& y, size_t j) const { return std::fabs(x.v[i] - y.v[j]); }
};

struct FnCost {
  const Cost& f;
  double operator()(const Vecs& x, size_t i, const Vecs& y, size_t j) const { return f(x.v[i], y.v[j]); }
};

// Per-row inclusive column ranges; lo > hi marks an empty row.
struct Window {
  std::vector<long> lo, hi;
  bool full = false;
};

Window full_window(size_t n, size_t m) {
  Window w;
  w.lo.assign(n, 0);
  w.hi.assign(n, static_cast<long>(m) - 1);
  w.full = true;
  return w;
}

// First and last path column of every coarse row.
void row_bounds(const std::vector<std::pair<size_t, size_t>>& path, std::vector<long>& pmin, std::vector<long>& pmax) {
  const size_t rows = path.back().first + 1;
  pmin.assign(rows, std::numeric_limits<long>::max());
  pmax.assign(rows, std::numeric_limits<long>::min());
  for (const auto& [i, j] : path) {
    pmin[i] = std::min(pmin[i], static_cast<long>(j));
    pmax[i] = std::max(pmax[i], static_cast<long>(j));
  }
}

Window expand_window_python(const std::vector<std::pair<size_t, size_t>>& path, size_t len_x, size_t len_y,
                            long radius) {
  std::vector<long> pmin, pmax;
  row_bounds(path, pmin, pmax);
  const long nc = static_cast<long>(pmin.size());
  Window w;
  w.lo.resize(len_x);
  w.hi.resize(len_x);
  long start_j = 0;
  for (size_t i = 0; i < len_x; ++i) {
    const long ic = static_cast<long>(i / 2);
    const long p0 = std::max(0L, ic - radius), p1 = std::min(nc - 1, ic + radius);
    long lo = 1, hi = 0;
    if (p0 <= p1) {
      long qmin = std::numeric_limits<long>::max(), qmax = std::numeric_limits<long>::min();
      for (long p = p0; p <= p1; ++p) {
        qmin = std::min(qmin, pmin[p]);
        qmax = std::max(qmax, pmax[p]);
      }
      lo = std::max(2 * (qmin - radius), start_j);
      hi = std::min(2 * (qmax + radius) + 1, static_cast<long>(len_y) - 1);
    }
    if (lo > hi)  // the package fails here too (start_j becomes None, or the end cell is unreachable)
      throw Error("fastdtw: the search window misses row " + std::to_string(i) + " (radius " +
                  std::to_string(radius) + " is too small for these lengths)");
    w.lo[i] = lo;
    w.hi[i] = hi;
    start_j = lo;
  }
  return w;
}

Window expand_window_cython(const std::vector<std::pair<size_t, size_t>>& path, size_t len_x, size_t len_y,
                            long radius) {
  std::vector<long> low1, high1;
  row_bounds(path, low1, high1);
  const long max_x = static_cast<long>(path.back().first), max_y = static_cast<long>(path.back().second);
  const long n2 = max_x + radius + 1;
  std::vector<long> low2(n2), high2(n2);
  for (long x = 0; x <= max_x; ++x) {
    low2[x] = std::max(0L, low1[std::max(0L, x - radius)] - radius);
    high2[x] = std::min(max_y + radius, high1[std::min(max_x, x + radius)] + radius);
  }
  for (long x = max_x + 1; x < n2; ++x) {
    low2[x] = low2[x - 1];
    high2[x] = high2[x - 1];
  }
  const long n3 = std::min(static_cast<long>(len_x), 2 * n2);
  Window w;
  w.lo.assign(len_x, 1);
  w.hi.assign(len_x, 0);
  for (long x = 0; x < n2; ++x) {
    for (long k = 0; k < 2; ++k) {
      const long row = 2 * x + k;
      if (row < n3) {
        w.lo[row] = 2 * low2[x];
        w.hi[row] = std::min(static_cast<long>(len_y) - 1, 2 * high2[x] + 1);
      }
    }
  }
  for (size_t i = 0; i < len_x; ++i)
    if (w.lo[i] > w.hi[i])
      throw Error("fastdtw (cython): the search window misses row " + std::to_string(i));
  return w;
}

// DTW restricted to a window (rows in order, each a contiguous column range).
template <class S, class C>
DtwResult dtw_window(const S& x, const S& y, const Window& w, const C& cost, FastDtwImpl impl) {
  const size_t n = x.size(), m = y.size();
  std::vector<size_t> off(n + 1, 0);
  for (size_t i = 0; i < n; ++i) off[i + 1] = off[i] + static_cast<size_t>(w.hi[i] - w.lo[i] + 1);
  std::vector<double> D(off[n]);
  std::vector<uint8_t> B(off[n]);  // 0: from (i-1, j), 1: from (i, j-1), 2: from (i-1, j-1)
  const bool py = impl == FastDtwImpl::python;

  for (size_t i = 0; i < n; ++i) {
    const long lo = w.lo[i], hi = w.hi[i];
    double* Drow = D.data() + off[i];
    uint8_t* Brow = B.data() + off[i];
    const double* Dprev = i > 0 ? D.data() + off[i - 1] : nullptr;
    const long plo = i > 0 ? w.lo[i - 1] : 1, phi = i > 0 ? w.hi[i - 1] : 0;
    for (long j = lo; j <= hi; ++j) {
      const double dt = cost(x, i, y, static_cast<size_t>(j));
      const double up = (i > 0 && j >= plo && j <= phi) ? Dprev[j - plo] : kInf;
      const double left = (j > lo) ? Drow[j - 1 - lo] : kInf;
      double diag;
      if (i == 0 && j == 0)
        diag = 0.0;  // D[0, 0] = 0, the origin
      else if (py)
        diag = (i > 0 && j - 1 >= plo && j - 1 <= phi) ? Dprev[j - 1 - plo] : kInf;
      else
        diag = (i > 0 && j >= plo + 1 && j <= phi) ? Dprev[j - 1 - plo] : kInf;  // the extension's rule
      double best;
      uint8_t from;
      if (py) {
        // min((up + dt), (left + dt), (diag + dt), key=cost): the first minimum wins.
        best = up + dt;
        from = 0;
        const double l = left + dt, d = diag + dt;
        if (l < best) {
          best = l;
          from = 1;
        }
        if (d < best) {
          best = d;
          from = 2;
        }
      } else {
        if (up < left && up < diag) {
          best = up + dt;
          from = 0;
        } else if (left < diag) {
          best = left + dt;
          from = 1;
        } else {
          best = diag + dt;
          from = 2;
        }
      }
      Drow[j - lo] = best;
      Brow[j - lo] = from;
    }
  }

  DtwResult res;
  const long last_j = static_cast<long>(m) - 1;
  if (w.lo[n - 1] > last_j || w.hi[n - 1] < last_j)
    throw Error("fastdtw: the window does not reach the end cell");
  res.distance = D[off[n - 1] + static_cast<size_t>(last_j - w.lo[n - 1])];
  long i = static_cast<long>(n) - 1, j = last_j;
  while (true) {
    if (i < 0 || j < 0 || j < w.lo[i] || j > w.hi[i])
      throw Error("fastdtw: the warping path left the window (no finite path)");
    res.path.emplace_back(static_cast<size_t>(i), static_cast<size_t>(j));
    if (i == 0 && j == 0) break;
    const uint8_t from = B[off[i] + static_cast<size_t>(j - w.lo[i])];
    if (from == 0)
      --i;
    else if (from == 1)
      --j;
    else {
      --i;
      --j;
    }
  }
  std::reverse(res.path.begin(), res.path.end());
  return res;
}

template <class S, class C>
DtwResult fastdtw_rec(const S& x, const S& y, const C& cost, long radius, FastDtwImpl impl) {
  const size_t min_time_size = static_cast<size_t>(radius) + 2;
  if (x.size() < min_time_size || y.size() < min_time_size)
    return dtw_window(x, y, full_window(x.size(), y.size()), cost, impl);
  const S xs = x.half(), ys = y.half();
  const DtwResult coarse = fastdtw_rec(xs, ys, cost, radius, impl);
  const Window w = impl == FastDtwImpl::python ? expand_window_python(coarse.path, x.size(), y.size(), radius)
                                               : expand_window_cython(coarse.path, x.size(), y.size(), radius);
  return dtw_window(x, y, w, cost, impl);
}

void check_lengths(size_t n, size_t m) {
  if (n == 0 || m == 0) throw Error("DTW needs two non-empty sequences (got lengths " + std::to_string(n) + " and " +
                                    std::to_string(m) + ")");
}

Vecs to_vecs(const Seq& s, size_t dim) {
  for (const auto& v : s)
    if (v.size() != dim) throw Error("DTW: all vectors must have the same length");
  return Vecs{s};
}

}  // namespace

double abs_cost(const std::vector<double>& a, const std::vector<double>& b) {
  double s = 0.0;
  const size_t n = std::min(a.size(), b.size());
  for (size_t k = 0; k < n; ++k) s += std::fabs(a[k] - b[k]);
  return s;
}

double cosine_cost(const std::vector<double>& a, const std::vector<double>& b) {
  double dot = 0.0, na = 0.0, nb = 0.0;
  const size_t n = std::min(a.size(), b.size());
  for (size_t k = 0; k < n; ++k) {
    dot += a[k] * b[k];
    na += a[k] * a[k];
    nb += b[k] * b[k];
  }
  if (na <= 0.0 || nb <= 0.0) return 1.0;
  return 1.0 - dot / (std::sqrt(na) * std::sqrt(nb));
}

double one_minus_dot_cost(const std::vector<double>& a, const std::vector<double>& b) {
  double dot = 0.0;
  const size_t n = std::min(a.size(), b.size());
  for (size_t k = 0; k < n; ++k) dot += a[k] * b[k];
  return 1.0 - dot;
}

DtwResult dtw(const Seq& x, const Seq& y, const Cost& cost, FastDtwImpl impl) {
  check_lengths(x.size(), y.size());
  const size_t dim = x[0].size();
  const Vecs vx = to_vecs(x, dim), vy = to_vecs(y, dim);
  return dtw_window(vx, vy, full_window(x.size(), y.size()), FnCost{cost}, impl);
}

DtwResult fastdtw(const Seq& x, const Seq& y, const Cost& cost, int radius, FastDtwImpl impl) {
  check_lengths(x.size(), y.size());
  if (radius < 0) throw Error("fastdtw radius must be >= 0");
  const size_t dim = x[0].size();
  const Vecs vx = to_vecs(x, dim), vy = to_vecs(y, dim);
  return fastdtw_rec(vx, vy, FnCost{cost}, radius, impl);
}

DtwResult dtw(const Seq& x, const Seq& y, const Cost& cost) { return dtw(x, y, cost, FastDtwImpl::python); }

DtwResult fastdtw(const Seq& x, const Seq& y, const Cost& cost, int radius) {
  return fastdtw(x, y, cost, radius, FastDtwImpl::python);
}

DtwResult dtw(const std::vector<double>& x, const std::vector<double>& y, FastDtwImpl impl) {
  check_lengths(x.size(), y.size());
  const Flat1 fx{x}, fy{y};
  return dtw_window(fx, fy, full_window(x.size(), y.size()), AbsCost1{}, impl);
}

DtwResult fastdtw(const std::vector<double>& x, const std::vector<double>& y, int radius, FastDtwImpl impl) {
  check_lengths(x.size(), y.size());
  if (radius < 0) throw Error("fastdtw radius must be >= 0");
  const Flat1 fx{x}, fy{y};
  return fastdtw_rec(fx, fy, AbsCost1{}, radius, impl);
}

DtwResult dtw(const std::vector<double>& x, const std::vector<double>& y) { return dtw(x, y, FastDtwImpl::python); }

DtwResult fastdtw(const std::vector<double>& x, const std::vector<double>& y, int radius) {
  return fastdtw(x, y, radius, FastDtwImpl::python);
}

}  // namespace mtk::metrics
