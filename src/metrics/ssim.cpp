// SSIM exactly as scikit-image's structural_similarity(a, b, data_range=255) computes it for 2-D
// uint8 images with its defaults (7x7 uniform window, K1 0.01, K2 0.03, sample covariance, mean of
// the map with (win-1)/2 pixels cropped on every side), but with the window sums in exact integer
// arithmetic instead of floating-point box filters.
//
// For a window of N = win^2 pixels with integer sums Sx, Sy, Sxx, Syy, Sxy, skimage's per-pixel
//   S = (2 ux uy + C1)(2 vxy + C2) / ((ux^2 + uy^2 + C1)(vx + vy + C2)),
//   ux = Sx/N, vx = cn (Sxx/N - ux^2), vxy = cn (Sxy/N - ux uy), cn = N/(N-1)
// is, multiplying numerator and denominator factors by N^2 and N^2/cn,
//   S = (2 Sx Sy + c1)(2 (N Sxy - Sx Sy) + c2) / ((Sx^2 + Sy^2 + c1)(Vx + Vy + c2)),
//   Vx = N Sxx - Sx^2, c1 = C1 N^2, c2 = C2 N^2 / cn (= C2 N (N-1)).
// Every integer term is exact (in int32, or in double below 2^53); only the additions of c1/c2,
// the two products and the ratio round. Only interior windows count after the crop, so no border
// mode is involved.
//
// Speed: per frame, Sx, Vx and the SSIM against an all-zero window (z) are computed once, packed per
// output row to the span of columns whose window holds a non-zero pixel. Per pair and output row:
//   - outside both spans both windows are all zero (Manim's black background) and
//     S = (c1 c2)/(c1 c2) = 1 exactly: those pixels are counted, not computed;
//   - where only one frame's window is non-zero, S is that frame's z, bit for bit what the full
//     formula gives with the other window's sums at 0: summed, not recomputed;
//   - where both are non-zero, the full formula, with Sxy from column sums of x*y kept as running
//     sums over the window rows (updated only where both rows are non-zero).
// Identical frames (still segments of a video) are computed once. Threads take whole pairs.
#include "mtk/metrics/ssim.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <map>
#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>
#include <string>
#include <string_view>
#include <unordered_map>

#include "mtk/core/error.hpp"
#include "mtk/core/thread_pool.hpp"

namespace mtk::metrics {

namespace detail {

// Hot loops, written with GCC/Clang vector extensions (explicit SIMD that lowers to whatever the
// target has) and compiled for AVX-512, AVX2 and baseline x86-64 (target_clones picks at load time).
// The arithmetic is identical in every clone: element-wise, no reassociation, integer parts exact,
// and the summation order depends only on the spans, never on the clone.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define MTK_SSIM_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define MTK_SSIM_CLONES
#endif
#define MTK_INLINE inline __attribute__((always_inline))

typedef uint8_t v16u8 __attribute__((vector_size(16)));
typedef uint16_t v16u16 __attribute__((vector_size(32)));
typedef int32_t v16i32 __attribute__((vector_size(64)));
typedef int32_t v8i32 __attribute__((vector_size(32)));
typedef double v8f64 __attribute__((vector_size(64)));

#define MTK_LOAD(v, p) std::memcpy(&(v), (p), sizeof(v))
#define MTK_STORE(p, v) std::memcpy((p), &(v), sizeof(v))

struct Constants {
  double nwin, c1, c2;
};

Constants constants(const SsimOptions& o) {
  const double n = static_cast<double>(o.win_size) * o.win_size;
  const double cov_norm = o.sample_covariance ? n / (n - 1.0) : 1.0;
  const double C1 = (o.k1 * o.data_range) * (o.k1 * o.data_range);
  const double C2 = (o.k2 * o.data_range) * (o.k2 * o.data_range);
  return {n, C1 * n * n, C2 * n * n / cov_norm};
}

// The per-pixel SSIM from exact integer window statistics (see the top of this file). With the
// other window all zero (sy = vy = sxy = 0) this is bit for bit (c1 c2) / ((sx^2 + c1)(vx + c2)).
MTK_INLINE double ssim_pixel(double sx, double vx, double sy, double vy, double sxy, const Constants& k) {
  const double sxsy = sx * sy;
  const double a1 = 2.0 * sxsy + k.c1;
  const double a2 = 2.0 * (k.nwin * sxy - sxsy) + k.c2;
  const double b1 = (sx * sx + sy * sy) + k.c1;
  const double b2 = (vx + vy) + k.c2;
  return (a1 * a2) / (b1 * b2);
}

struct RowSpan {
  int ilo = 1, ihi = 0;  // input columns with a non-zero pixel in this window row band (empty if ilo > ihi)
  int olo = 1, ohi = 0;  // output columns whose window holds a non-zero pixel (empty if olo > ohi)
  int off = 0;           // offset of output column olo in the packed arrays
  bool empty() const { return olo > ohi; }
};

// Per-frame window statistics, packed per output row over the row's span.
struct FrameStats {
  int w = 0, h = 0, wo = 0, ho = 0, win = 7;
  const uint8_t* pix = nullptr;  // w*h gray pixels, owned by the caller
  std::vector<RowSpan> rows;     // ho rows
  std::vector<int> nzlo, nzhi;   // non-zero span of every input row (lo > hi: all zero)
  std::vector<int32_t> s;        // window sums Sx
  std::vector<int32_t> v;        // N*Sxx - Sx^2
  std::vector<double> z;         // SSIM at this pixel against an all-zero window
};

// col_s[c] += sign * r[c], col_ss[c] += sign * r[c]^2 for c in [0, n).
MTK_SSIM_CLONES
void accumulate_row(const uint8_t* __restrict r, int n, int sign, int32_t* __restrict col_s,
                    int32_t* __restrict col_ss) {
  int c = 0;
  for (; c + 16 <= n; c += 16) {
    v16u8 a;
    MTK_LOAD(a, r + c);
    v16i32 s, ss;
    MTK_LOAD(s, col_s + c);
    MTK_LOAD(ss, col_ss + c);
    const v16u16 a16 = __builtin_convertvector(a, v16u16);
    s += sign * __builtin_convertvector(a16, v16i32);
    ss += sign * __builtin_convertvector(a16 * a16, v16i32);
    MTK_STORE(col_s + c, s);
    MTK_STORE(col_ss + c, ss);
  }
  for (; c < n; ++c) {
    col_s[c] += sign * static_cast<int32_t>(r[c]);
    col_ss[c] += sign * static_cast<int32_t>(r[c]) * r[c];
  }
}

// cs[c] += sign * x[c] * y[c] for c in [0, n).
MTK_SSIM_CLONES
void accumulate_product(const uint8_t* __restrict x, const uint8_t* __restrict y, int n, int sign,
                        int32_t* __restrict cs) {
  int c = 0;
  for (; c + 16 <= n; c += 16) {
    v16u8 a, b;
    MTK_LOAD(a, x + c);
    MTK_LOAD(b, y + c);
    v16i32 acc;
    MTK_LOAD(acc, cs + c);
    const v16u16 p = __builtin_convertvector(a, v16u16) * __builtin_convertvector(b, v16u16);  // <= 65025
    acc += sign * __builtin_convertvector(p, v16i32);
    MTK_STORE(cs + c, acc);
  }
  for (; c < n; ++c) cs[c] += sign * static_cast<int32_t>(x[c]) * y[c];
}

// Window sums over output columns [0, n): s[o] = sum_d col_s[o + d], v[o] = N Sxx - Sx^2 (exact in
// double, fits int32 for win <= 19), z[o] = SSIM against an all-zero window.
MTK_SSIM_CLONES
void window_stats(const int32_t* __restrict col_s, const int32_t* __restrict col_ss, int n, int win, Constants k,
                  int32_t* __restrict s_out, int32_t* __restrict v_out, double* __restrict z_out) {
  const double c1c2 = k.c1 * k.c2;
  int o = 0;
  for (; o + 8 <= n; o += 8) {
    v8i32 s, ss, t;
    MTK_LOAD(s, col_s + o);
    MTK_LOAD(ss, col_ss + o);
    for (int d = 1; d < win; ++d) {
      MTK_LOAD(t, col_s + o + d);
      s += t;
      MTK_LOAD(t, col_ss + o + d);
      ss += t;
    }
    const v8f64 ds = __builtin_convertvector(s, v8f64);
    const v8f64 v = k.nwin * __builtin_convertvector(ss, v8f64) - ds * ds;
    const v8i32 vi = __builtin_convertvector(v, v8i32);
    // ssim_pixel(ds, v, 0, 0, 0): a1 = 0 + c1, a2 = 0 + c2, b1 = (ds^2 + 0) + c1, b2 = (v + 0) + c2.
    const v8f64 z = c1c2 / ((ds * ds + k.c1) * (v + k.c2));
    MTK_STORE(s_out + o, s);
    MTK_STORE(v_out + o, vi);
    MTK_STORE(z_out + o, z);
  }
  for (; o < n; ++o) {
    int32_t s = 0, ss = 0;
    for (int d = 0; d < win; ++d) {
      s += col_s[o + d];
      ss += col_ss[o + d];
    }
    s_out[o] = s;
    v_out[o] = static_cast<int32_t>(k.nwin * static_cast<double>(ss) - static_cast<double>(s) * s);
    z_out[o] = ssim_pixel(s, v_out[o], 0.0, 0.0, 0.0, k);
  }
}

// First and last non-zero byte of a row (lo > hi when all zero), 8 bytes at a time.
void nonzero_span(const uint8_t* r, int w, int& lo, int& hi) {
  lo = 0;
  uint64_t word;
  while (lo + 8 <= w) {
    std::memcpy(&word, r + lo, 8);
    if (word) break;
    lo += 8;
  }
  while (lo < w && r[lo] == 0) ++lo;
  hi = w - 1;
  while (hi - 7 >= lo) {
    std::memcpy(&word, r + hi - 7, 8);
    if (word) break;
    hi -= 8;
  }
  while (hi >= lo && r[hi] == 0) --hi;
}

void compute_stats(FrameStats& fs, const uint8_t* pix, int w, int h, int win, const Constants& k) {
  fs.w = w;
  fs.h = h;
  fs.win = win;
  fs.wo = w - win + 1;
  fs.ho = h - win + 1;
  fs.pix = pix;

  fs.nzlo.resize(h);
  fs.nzhi.resize(h);
  const std::vector<int>& nzlo = fs.nzlo;
  const std::vector<int>& nzhi = fs.nzhi;
  for (int y = 0; y < h; ++y) nonzero_span(pix + static_cast<size_t>(y) * w, w, fs.nzlo[y], fs.nzhi[y]);

  fs.rows.assign(fs.ho, RowSpan{});
  size_t total = 0;
  for (int q = 0; q < fs.ho; ++q) {
    int ilo = w, ihi = -1;
    for (int d = 0; d < win; ++d) {
      if (nzhi[q + d] < nzlo[q + d]) continue;
      ilo = std::min(ilo, nzlo[q + d]);
      ihi = std::max(ihi, nzhi[q + d]);
    }
    RowSpan& rs = fs.rows[q];
    if (ihi >= ilo) {
      rs.ilo = ilo;
      rs.ihi = ihi;
      rs.olo = std::max(0, ilo - (win - 1));
      rs.ohi = std::min(fs.wo - 1, ihi);
      rs.off = static_cast<int>(total);
      total += static_cast<size_t>(rs.ohi - rs.olo + 1);
    }
  }
  fs.s.assign(total, 0);
  fs.v.assign(total, 0);
  fs.z.assign(total, 0.0);

  // Vertical running sums of x and x^2 over the window rows (only non-zero spans change them),
  // then horizontal window sums in each output span.
  std::vector<int32_t> col_s(w, 0), col_ss(w, 0);
  auto row = [&](int y, int sign) {
    if (nzlo[y] <= nzhi[y])
      accumulate_row(pix + static_cast<size_t>(y) * w + nzlo[y], nzhi[y] - nzlo[y] + 1, sign, col_s.data() + nzlo[y],
                     col_ss.data() + nzlo[y]);
  };
  for (int d = 0; d < win - 1; ++d) row(d, 1);
  for (int q = 0; q < fs.ho; ++q) {
    row(q + win - 1, 1);
    if (q > 0) row(q - 1, -1);
    const RowSpan& rs = fs.rows[q];
    if (!rs.empty())
      window_stats(col_s.data() + rs.olo, col_ss.data() + rs.olo, rs.ohi - rs.olo + 1, win, k, fs.s.data() + rs.off,
                   fs.v.data() + rs.off, fs.z.data() + rs.off);
  }
}

size_t stats_bytes(const FrameStats& fs) {
  return sizeof(FrameStats) + fs.rows.size() * sizeof(RowSpan) + (fs.nzlo.size() + fs.nzhi.size()) * sizeof(int) +
         fs.s.size() * (2 * sizeof(int32_t) + sizeof(double));
}

// Sum of v[0..n) with 4 x 8 partial sums (fixed order).
MTK_INLINE double sum_range(const double* __restrict v, int n) {
  v8f64 a0 = {0, 0, 0, 0, 0, 0, 0, 0}, a1 = a0, a2 = a0, a3 = a0, t;
  int i = 0;
  for (; i + 32 <= n; i += 32) {
    MTK_LOAD(t, v + i);
    a0 += t;
    MTK_LOAD(t, v + i + 8);
    a1 += t;
    MTK_LOAD(t, v + i + 16);
    a2 += t;
    MTK_LOAD(t, v + i + 24);
    a3 += t;
  }
  for (; i + 8 <= n; i += 8) {
    MTK_LOAD(t, v + i);
    a0 += t;
  }
  const v8f64 acc = (a0 + a1) + (a2 + a3);
  double sum = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
  for (; i < n; ++i) sum += v[i];
  return sum;
}

// Sum of z over the part of span a (packed z) outside the interval [blo, bhi] (possibly empty).
MTK_INLINE double sum_outside(const RowSpan& a, const double* z, int blo, int bhi) {
  if (a.empty()) return 0.0;
  if (blo > bhi) return sum_range(z + a.off, a.ohi - a.olo + 1);
  double sum = 0.0;
  const int l_end = std::min(a.ohi, blo - 1);  // [a.olo, l_end]
  if (l_end >= a.olo) sum += sum_range(z + a.off, l_end - a.olo + 1);
  const int r_beg = std::max(a.olo, bhi + 1);  // [r_beg, a.ohi]
  if (r_beg <= a.ohi) sum += sum_range(z + a.off + (r_beg - a.olo), a.ohi - r_beg + 1);
  return sum;
}

struct Scratch {
  std::vector<int32_t> cs;
};

// Mean SSIM of one pair. Per output row, with X and Y the two frames' spans:
//   outside X u Y: both windows all zero, S = 1 exactly (counted);
//   X only / Y only: the other window is all zero, S = z (precomputed per frame);
//   X n Y: the full formula, with the column sums of x*y computed here.
MTK_SSIM_CLONES
double pair_mean(const FrameStats& X, const FrameStats& Y, const Constants& k, Scratch& sc) {
  const int win = X.win;
  // Running column sums of x*y over the window rows, changed only where both rows are non-zero.
  sc.cs.assign(X.w, 0);
  int32_t* __restrict cs_all = sc.cs.data();
  auto product_row = [&](int y, int sign) {
    const int lo = std::max(X.nzlo[y], Y.nzlo[y]), hi = std::min(X.nzhi[y], Y.nzhi[y]);
    if (lo <= hi) {
      const size_t at = static_cast<size_t>(y) * X.w + lo;
      accumulate_product(X.pix + at, Y.pix + at, hi - lo + 1, sign, cs_all + lo);
    }
  };
  for (int d = 0; d < win - 1; ++d) product_row(d, 1);
  double total = 0.0;
  int64_t ones = 0;
  for (int q = 0; q < X.ho; ++q) {
    product_row(q + win - 1, 1);
    if (q > 0) product_row(q - 1, -1);
    const RowSpan& rx = X.rows[q];
    const RowSpan& ry = Y.rows[q];
    const int blo = std::max(rx.olo, ry.olo), bhi = std::min(rx.ohi, ry.ohi);  // X n Y (empty if blo > bhi)
    const int nx = rx.empty() ? 0 : rx.ohi - rx.olo + 1, ny = ry.empty() ? 0 : ry.ohi - ry.olo + 1;
    const int nb = blo <= bhi ? bhi - blo + 1 : 0;
    ones += X.wo - (nx + ny - nb);
    total += sum_outside(rx, X.z.data(), blo, bhi);
    total += sum_outside(ry, Y.z.data(), blo, bhi);
    if (nb == 0) continue;

    // The full formula over X n Y.
    const int32_t* __restrict sx = X.s.data() + rx.off + (blo - rx.olo);
    const int32_t* __restrict vx = X.v.data() + rx.off + (blo - rx.olo);
    const int32_t* __restrict sy = Y.s.data() + ry.off + (blo - ry.olo);
    const int32_t* __restrict vy = Y.v.data() + ry.off + (blo - ry.olo);
    const int32_t* __restrict cs = cs_all + blo;  // column sums for input columns blo .. bhi + win - 1
    v8f64 acc = {0, 0, 0, 0, 0, 0, 0, 0};
    int o = 0;
    for (; o + 8 <= nb; o += 8) {
      v8i32 sxy, t, ix, iy, jx, jy;
      MTK_LOAD(sxy, cs + o);
      for (int d = 1; d < win; ++d) {
        MTK_LOAD(t, cs + o + d);
        sxy += t;
      }
      MTK_LOAD(ix, sx + o);
      MTK_LOAD(iy, sy + o);
      MTK_LOAD(jx, vx + o);
      MTK_LOAD(jy, vy + o);
      const v8f64 dx = __builtin_convertvector(ix, v8f64), dy = __builtin_convertvector(iy, v8f64);
      const v8f64 sxsy = dx * dy;
      const v8f64 a1 = 2.0 * sxsy + k.c1;
      const v8f64 a2 = 2.0 * (k.nwin * __builtin_convertvector(sxy, v8f64) - sxsy) + k.c2;
      const v8f64 b1 = (dx * dx + dy * dy) + k.c1;
      const v8f64 b2 = (__builtin_convertvector(jx, v8f64) + __builtin_convertvector(jy, v8f64)) + k.c2;
      acc += (a1 * a2) / (b1 * b2);
    }
    double sum = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
    for (; o < nb; ++o) {
      int32_t sxy = 0;
      for (int d = 0; d < win; ++d) sxy += cs[o + d];
      sum += ssim_pixel(sx[o], vx[o], sy[o], vy[o], sxy, k);
    }
    total += sum;
  }
  return (total + static_cast<double>(ones)) / (static_cast<double>(X.wo) * X.ho);
}

// Rows [q0, q1] of the SSIM map of one pair into out (X.wo x X.ho), same cases as pair_mean: 1 where
// both windows are all zero, the precomputed z where only one is non-zero, the full formula where
// both are (the window sum of x*y slides along the row: exact integers, so the same value).
MTK_SSIM_CLONES
void pair_map(const FrameStats& X, const FrameStats& Y, const Constants& k, Scratch& sc, double* out, int q0, int q1) {
  const int win = X.win;
  sc.cs.assign(X.w, 0);
  int32_t* __restrict cs_all = sc.cs.data();
  auto product_row = [&](int y, int sign) {
    const int lo = std::max(X.nzlo[y], Y.nzlo[y]), hi = std::min(X.nzhi[y], Y.nzhi[y]);
    if (lo <= hi) {
      const size_t at = static_cast<size_t>(y) * X.w + lo;
      accumulate_product(X.pix + at, Y.pix + at, hi - lo + 1, sign, cs_all + lo);
    }
  };
  for (int d = 0; d < win - 1; ++d) product_row(q0 + d, 1);
  for (int q = q0; q <= q1; ++q) {
    product_row(q + win - 1, 1);
    if (q > q0) product_row(q - 1, -1);
    double* row = out + static_cast<size_t>(q) * X.wo;
    std::fill(row, row + X.wo, 1.0);
    const RowSpan& rx = X.rows[q];
    const RowSpan& ry = Y.rows[q];
    if (!rx.empty()) std::memcpy(row + rx.olo, X.z.data() + rx.off, sizeof(double) * (rx.ohi - rx.olo + 1));
    if (!ry.empty()) std::memcpy(row + ry.olo, Y.z.data() + ry.off, sizeof(double) * (ry.ohi - ry.olo + 1));
    const int blo = std::max(rx.olo, ry.olo), bhi = std::min(rx.ohi, ry.ohi);
    if (rx.empty() || ry.empty() || blo > bhi) continue;
    const int nb = bhi - blo + 1;
    const int32_t* sx = X.s.data() + rx.off + (blo - rx.olo);
    const int32_t* vx = X.v.data() + rx.off + (blo - rx.olo);
    const int32_t* sy = Y.s.data() + ry.off + (blo - ry.olo);
    const int32_t* vy = Y.v.data() + ry.off + (blo - ry.olo);
    const int32_t* cs = cs_all + blo;
    int32_t sxy = 0;
    for (int d = 0; d < win - 1; ++d) sxy += cs[d];
    for (int o = 0; o < nb; ++o) {
      sxy += cs[o + win - 1];
      row[blo + o] = ssim_pixel(sx[o], vx[o], sy[o], vy[o], sxy, k);
      sxy -= cs[o];
    }
  }
}

}  // namespace detail

namespace {

using detail::FrameStats;

void check_options(const SsimOptions& o) {
  if (o.win_size < 3 || o.win_size % 2 == 0 || o.win_size > 19)
    throw Error("SSIM win_size must be odd and in [3, 19] (got " + std::to_string(o.win_size) + ")");
  if (!(o.data_range > 0)) throw Error("SSIM data_range must be > 0");
}

void check_frame(const video::Image& im, const SsimOptions& o, const char* what) {
  if (im.empty()) throw Error(std::string("SSIM got an empty ") + what + " frame");
  if (im.channels != 1)
    throw Error(std::string("SSIM expects 8-bit grayscale frames but the ") + what + " frame has " +
                    std::to_string(im.channels) + " channels",
                "decode with SampleOptions::gray = true");
  if (im.pixels.size() != static_cast<size_t>(im.width) * im.height)
    throw Error(std::string("SSIM: the ") + what + " frame's pixel buffer does not match its size");
  if (im.width < o.win_size || im.height < o.win_size)
    throw Error(std::string("SSIM: the ") + what + " frame (" + std::to_string(im.width) + "x" +
                std::to_string(im.height) + ") is smaller than the " + std::to_string(o.win_size) + "x" +
                std::to_string(o.win_size) + " window");
}

// b resized to w x h with INTER_AREA, as the paper's code does (cv2.resize(..., INTER_AREA)).
video::Image resize_area(const video::Image& b, int w, int h) {
  cv::Mat src(b.height, b.width, CV_8UC1, const_cast<uint8_t*>(b.pixels.data()));
  cv::Mat dst;
  cv::resize(src, dst, cv::Size(w, h), 0, 0, cv::INTER_AREA);
  video::Image out;
  out.width = w;
  out.height = h;
  out.channels = 1;
  out.pixels.resize(static_cast<size_t>(w) * h);
  for (int y = 0; y < h; ++y) std::memcpy(out.pixels.data() + static_cast<size_t>(y) * w, dst.ptr<uint8_t>(y), w);
  return out;
}

// Indices of the distinct frames and, for every frame, the position of its representative.
struct Unique {
  std::vector<size_t> reps;   // index into the input of each distinct frame
  std::vector<size_t> of;     // of[i] = position in reps of frame i
};

Unique unique_frames(const std::vector<video::Image>& v, bool enabled) {
  Unique u;
  u.of.resize(v.size());
  if (!enabled) {
    for (size_t i = 0; i < v.size(); ++i) {
      u.reps.push_back(i);
      u.of[i] = i;
    }
    return u;
  }
  std::unordered_multimap<size_t, size_t> seen;  // hash -> position in reps
  for (size_t i = 0; i < v.size(); ++i) {
    const auto& im = v[i];
    size_t hsh = std::hash<std::string_view>{}(
        std::string_view(reinterpret_cast<const char*>(im.pixels.data()), im.pixels.size()));
    hsh ^= (static_cast<size_t>(im.width) * 0x9E3779B97F4A7C15ULL) + static_cast<size_t>(im.height);
    bool found = false;
    auto range = seen.equal_range(hsh);
    for (auto it = range.first; it != range.second; ++it) {
      const auto& other = v[u.reps[it->second]];
      if (other.width == im.width && other.height == im.height && other.pixels == im.pixels) {
        u.of[i] = it->second;
        found = true;
        break;
      }
    }
    if (!found) {
      u.of[i] = u.reps.size();
      seen.emplace(hsh, u.reps.size());
      u.reps.push_back(i);
    }
  }
  return u;
}

thread_local detail::Scratch t_scratch;

}  // namespace

double ssim(const video::Image& a, const video::Image& b, const SsimOptions& opts) {
  check_options(opts);
  check_frame(a, opts, "first");
  check_frame(b, opts, "second");
  video::Image resized;
  const video::Image* bp = &b;
  if (b.width != a.width || b.height != a.height) {
    resized = resize_area(b, a.width, a.height);
    bp = &resized;
  }
  const detail::Constants k = detail::constants(opts);
  FrameStats X, Y;
  detail::compute_stats(X, a.pixels.data(), a.width, a.height, opts.win_size, k);
  detail::compute_stats(Y, bp->pixels.data(), bp->width, bp->height, opts.win_size, k);
  return detail::pair_mean(X, Y, k, t_scratch);
}

Matrix ssim_matrix(const std::vector<video::Image>& ref, const std::vector<video::Image>& gen, const SsimOptions& opts,
                   unsigned threads) {
  check_options(opts);
  for (const auto& im : ref) check_frame(im, opts, "reference");
  for (const auto& im : gen) check_frame(im, opts, "generated");
  Matrix out;
  out.rows = ref.size();
  out.cols = gen.size();
  out.v.assign(out.rows * out.cols, 0.0);
  if (ref.empty() || gen.empty()) return out;

  const detail::Constants k = detail::constants(opts);
  const Unique ur = unique_frames(ref, opts.reuse_identical_frames);
  const Unique ug = unique_frames(gen, opts.reuse_identical_frames);
  std::vector<double> uval(ur.reps.size() * ug.reps.size(), 0.0);

  // Distinct reference sizes (one in practice); generated frames are resized to each.
  std::map<std::pair<int, int>, std::vector<size_t>> by_size;  // (w, h) -> positions in ur.reps
  for (size_t p = 0; p < ur.reps.size(); ++p) {
    const auto& im = ref[ur.reps[p]];
    by_size[{im.width, im.height}].push_back(p);
  }

  // Per-frame statistics are held in blocks of about stats_budget_bytes per side (measured, not
  // estimated: Manim's mostly black frames need a few bytes per pixel, dense frames 16). When all
  // generated frames fit in one block they are computed once; otherwise they are recomputed for
  // every reference block (cheap next to the pairs).
  const size_t kSideBudget = std::max<size_t>(1, opts.stats_budget_bytes);
  const unsigned nthreads = threads == 0 ? hardware_threads() : threads;
  for (const auto& [size, rpos] : by_size) {
    const int w = size.first, h = size.second;
    const size_t nr = rpos.size(), ng = ug.reps.size();
    // Generated frames at this size (resized copies where needed).
    std::vector<video::Image> resized(ng);
    std::vector<const uint8_t*> gpix(ng);
    parallel_for(
        ng,
        [&](size_t g) {
          const auto& im = gen[ug.reps[g]];
          if (im.width != w || im.height != h) {
            resized[g] = resize_area(im, w, h);
            gpix[g] = resized[g].pixels.data();
          } else {
            gpix[g] = im.pixels.data();
          }
        },
        threads);
    std::vector<const uint8_t*> rpix(nr);
    for (size_t i = 0; i < nr; ++i) rpix[i] = ref[ur.reps[rpos[i]]].pixels.data();

    // Fills `block` with the statistics of frames [first, ...) until the budget is used; returns the end.
    auto fill_block = [&](const std::vector<const uint8_t*>& pix, size_t first, std::vector<FrameStats>& block) {
      block.clear();
      size_t bytes = 0, i = first;
      while (i < pix.size() && bytes < kSideBudget) {
        const size_t chunk = std::min<size_t>(std::max(1u, nthreads), pix.size() - i);
        const size_t base = block.size();
        block.resize(base + chunk);
        parallel_for(
            chunk, [&](size_t c) { detail::compute_stats(block[base + c], pix[i + c], w, h, opts.win_size, k); },
            threads);
        for (size_t c = 0; c < chunk; ++c) bytes += detail::stats_bytes(block[base + c]);
        i += chunk;
      }
      return i;
    };

    std::vector<FrameStats> gs_first, gs, rs;
    const size_t g_first_end = fill_block(gpix, 0, gs_first);
    for (size_t r0 = 0; r0 < nr;) {
      const size_t r_end = fill_block(rpix, r0, rs);
      for (size_t g0 = 0; g0 < ng;) {
        size_t g_end = g_first_end;
        const std::vector<FrameStats>* gb = &gs_first;
        if (g0 > 0) {
          g_end = fill_block(gpix, g0, gs);
          gb = &gs;
        }
        const size_t rn = r_end - r0, gn = g_end - g0;
        parallel_for(
            rn * gn,
            [&](size_t t) {
              const size_t i = t / gn, j = t % gn;
              uval[rpos[r0 + i] * ug.reps.size() + (g0 + j)] = detail::pair_mean(rs[i], (*gb)[j], k, t_scratch);
            },
            threads);
        g0 = g_end;
      }
      r0 = r_end;
    }
  }

  for (size_t i = 0; i < out.rows; ++i)
    for (size_t j = 0; j < out.cols; ++j) out.v[i * out.cols + j] = uval[ur.of[i] * ug.reps.size() + ug.of[j]];
  return out;
}

struct SsimFrame::Impl {
  detail::FrameStats stats;
  detail::Constants k;
  SsimOptions opts;
};

SsimFrame::SsimFrame(const video::Image& im, const SsimOptions& opts) : impl_(std::make_unique<Impl>()) {
  check_options(opts);
  check_frame(im, opts, "prepared");
  impl_->opts = opts;
  impl_->k = detail::constants(opts);
  detail::compute_stats(impl_->stats, im.pixels.data(), im.width, im.height, opts.win_size, impl_->k);
}
SsimFrame::~SsimFrame() = default;
SsimFrame::SsimFrame(SsimFrame&&) noexcept = default;
SsimFrame& SsimFrame::operator=(SsimFrame&&) noexcept = default;
int SsimFrame::width() const { return impl_->stats.w; }
int SsimFrame::height() const { return impl_->stats.h; }

void ssim_map(const SsimFrame& a, const SsimFrame& b, SsimMap& out, int first_row, int last_row) {
  const auto& A = *a.impl_;
  const auto& B = *b.impl_;
  if (A.stats.w != B.stats.w || A.stats.h != B.stats.h)
    throw Error("ssim_map: the prepared frames differ in size (" + std::to_string(A.stats.w) + "x" +
                    std::to_string(A.stats.h) + " vs " + std::to_string(B.stats.w) + "x" + std::to_string(B.stats.h) + ")",
                "resize one frame to the other's size before preparing it");
  if (A.opts.win_size != B.opts.win_size || A.opts.k1 != B.opts.k1 || A.opts.k2 != B.opts.k2 ||
      A.opts.data_range != B.opts.data_range || A.opts.sample_covariance != B.opts.sample_covariance)
    throw Error("ssim_map: the prepared frames use different SSIM options", "prepare both with the same SsimOptions");
  out.width = A.stats.wo;
  out.height = A.stats.ho;
  out.offset = (A.opts.win_size - 1) / 2;
  out.v.resize(static_cast<size_t>(out.width) * out.height);
  const int q0 = std::max(0, first_row), q1 = last_row < 0 ? out.height - 1 : std::min(last_row, out.height - 1);
  if (q0 <= q1) detail::pair_map(A.stats, B.stats, A.k, t_scratch, out.v.data(), q0, q1);
}

SsimMap ssim_map(const video::Image& a, const video::Image& b, const SsimOptions& opts) {
  check_options(opts);
  check_frame(a, opts, "first");
  check_frame(b, opts, "second");
  video::Image resized;
  const video::Image* bp = &b;
  if (b.width != a.width || b.height != a.height) {
    resized = resize_area(b, a.width, a.height);
    bp = &resized;
  }
  SsimMap out;
  ssim_map(SsimFrame(a, opts), SsimFrame(*bp, opts), out);
  return out;
}

}  // namespace mtk::metrics
