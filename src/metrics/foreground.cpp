// FVS: see include/mtk/metrics/foreground.hpp for the definition.
//
// Per distinct frame (byte-identical frames, e.g. a paused video, are prepared once) we keep the
// mask, its foreground pixel list and bounding box, the colour histogram, a half-resolution
// distance transform of the mask and the SSIM window statistics; a pair then costs one SSIM map
// plus passes over the two foregrounds.
#include "mtk/metrics/foreground.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>
#include <string>
#include <string_view>
#include <unordered_map>

#include "mtk/core/error.hpp"
#include "mtk/core/thread_pool.hpp"
#include "mtk/metrics/dtw.hpp"
#include "mtk/video/decode.hpp"

namespace mtk::metrics {

namespace {

void check_frame(const video::Image& im, const char* what) {
  if (im.empty()) throw Error(std::string("FVS got an empty ") + what + " frame");
  if (im.channels != 1 && im.channels != 3)
    throw Error(std::string("FVS expects RGB or gray 8-bit frames; a ") + what + " frame has " +
                    std::to_string(im.channels) + " channels",
                "decode with SampleOptions::rgb = true");
  if (im.pixels.size() != static_cast<size_t>(im.width) * im.height * im.channels)
    throw Error(std::string("FVS: a ") + what + " frame's pixel buffer does not match its size");
}

void check_options(const ForegroundOptions& o) {
  if (o.tolerance < 0 || o.tolerance > 254) throw Error("FVS tolerance must be in [0, 254]");
  if (o.colour_bins < 1 || o.colour_bins > 64) throw Error("FVS colour_bins must be in [1, 64]");
  if (!(o.proximity_scale > 0)) throw Error("FVS proximity_scale must be > 0");
  if (o.w_ssim < 0 || o.w_iou < 0 || o.w_proximity < 0 || o.w_colour < 0 || o.w_area < 0 ||
      !(o.w_ssim + o.w_iou + o.w_proximity + o.w_colour + o.w_area > 0))
    throw Error("FVS weights must be >= 0 with a positive sum");
}

cv::Mat as_mat(const video::Image& im) {
  return cv::Mat(im.height, im.width, im.channels == 3 ? CV_8UC3 : CV_8UC1, const_cast<uint8_t*>(im.pixels.data()));
}

video::Image from_mat(const cv::Mat& m) {
  video::Image out;
  out.width = m.cols;
  out.height = m.rows;
  out.channels = m.channels();
  const size_t row = static_cast<size_t>(m.cols) * m.channels();
  out.pixels.resize(row * m.rows);
  for (int y = 0; y < m.rows; ++y) std::memcpy(out.pixels.data() + row * y, m.ptr<uint8_t>(y), row);
  return out;
}

video::Image resized(const video::Image& im, int w, int h) {
  cv::Mat dst;
  cv::resize(as_mat(im), dst, cv::Size(w, h), 0, 0, cv::INTER_AREA);
  return from_mat(dst);
}

video::Image to_gray(const video::Image& im) {
  if (im.channels == 1) return im;
  cv::Mat dst;
  cv::cvtColor(as_mat(im), dst, cv::COLOR_RGB2GRAY);  // = BGR2GRAY of the BGR frame (decode.hpp)
  return from_mat(dst);
}

// Everything one frame contributes to its pairs.
struct Prepared {
  video::Image rgb;   // at the reference size
  video::Image gray;  // for the SSIM map
  std::vector<uint8_t> mask;
  std::vector<uint32_t> fg;  // indices of foreground pixels
  std::vector<uint32_t> fg_half;  // their cells in the half-resolution distance transform
  std::vector<int32_t> fg_map;    // their SSIM-map index (-1 in the cropped border)
  int x0 = 0, y0 = 0, x1 = -1, y1 = -1;  // bounding box (empty when x1 < x0)
  std::vector<double> hist;
  cv::Mat dt;  // CV_32F, half resolution: distance (in full-resolution pixels) to the nearest foreground
  SsimFrame ssim;
  Prepared(video::Image rgb_, Rgb bg, const ForegroundOptions& o)
      : rgb(std::move(rgb_)), gray(to_gray(rgb)), ssim(gray, o.ssim) {
    mask = foreground_mask(rgb, bg, o.tolerance);
    const int w = rgb.width, h = rgb.height;
    x0 = w;
    y0 = h;
    for (int y = 0; y < h; ++y)
      for (int x = 0; x < w; ++x) {
        const uint32_t i = static_cast<uint32_t>(y) * w + x;
        if (!mask[i]) continue;
        fg.push_back(i);
        x0 = std::min(x0, x);
        x1 = std::max(x1, x);
        y0 = std::min(y0, y);
        y1 = std::max(y1, y);
      }
    hist = colour_histogram(rgb, mask, o.colour_bins);
    const int hw = (w + 1) / 2, r = (o.ssim.win_size - 1) / 2, mw = w - 2 * r;
    fg_half.reserve(fg.size());
    fg_map.reserve(fg.size());
    for (uint32_t i : fg) {
      const int x = static_cast<int>(i % w), y = static_cast<int>(i / w);
      fg_half.push_back(static_cast<uint32_t>(y / 2) * hw + x / 2);
      const bool inside = x >= r && x < w - r && y >= r && y < h - r;
      fg_map.push_back(inside ? (y - r) * mw + (x - r) : -1);
    }
    if (!fg.empty()) {
      // Half resolution (a 2x2 block is foreground if any pixel is): distance to the nearest one.
      const int hh = (h + 1) / 2;
      cv::Mat inv(hh, hw, CV_8UC1, cv::Scalar(255));
      for (uint32_t c : fg_half) inv.data[c] = 0;
      cv::distanceTransform(inv, dt, cv::DIST_L2, cv::DIST_MASK_PRECISE, CV_32F);
      dt *= 2.0;
    }
  }
  bool empty() const { return fg.empty(); }
};

// Mean distance from a's foreground pixels to b's foreground (b non-empty).
double mean_distance(const Prepared& a, const Prepared& b) {
  const float* dt = b.dt.ptr<float>(0);  // continuous
  double sum = 0.0;
  for (uint32_t c : a.fg_half) sum += dt[c];
  return sum / static_cast<double>(a.fg.size());
}

double weighted(const FrameTerms& t, const ForegroundOptions& o) {
  const double wsum = o.w_ssim + o.w_iou + o.w_proximity + o.w_colour + o.w_area;
  const double s = (o.w_ssim * t.ssim + o.w_iou * t.iou + o.w_proximity * t.proximity + o.w_colour * t.colour +
                    o.w_area * t.area) /
                   wsum;
  return std::clamp(s, 0.0, 1.0);
}

// The terms of a prepared pair (same size). `map` is scratch for the SSIM map.
FrameTerms pair_terms(const Prepared& A, const Prepared& B, const ForegroundOptions& o, SsimMap& map) {
  FrameTerms t;
  t.empty_ref = A.empty();
  t.empty_gen = B.empty();
  if (t.empty_ref && t.empty_gen) {
    t.ssim = t.iou = t.proximity = t.colour = t.area = t.score = 1.0;
    return t;
  }
  if (t.empty_ref || t.empty_gen) return t;  // all 0
  const int w = A.rgb.width, h = A.rgb.height;

  size_t inter = 0;
  for (uint32_t i : A.fg) inter += B.mask[i];
  const size_t uni = A.fg.size() + B.fg.size() - inter;
  t.iou = static_cast<double>(inter) / static_cast<double>(uni);

  // The SSIM map rows whose window centres cover the union's rows, then its mean over the union:
  // A's foreground, plus B's where A has none.
  const int r = (o.ssim.win_size - 1) / 2;
  ssim_map(A.ssim, B.ssim, map, std::min(A.y0, B.y0) - r, std::max(A.y1, B.y1) - r);
  double sum = 0.0;
  size_t count = 0;
  for (int32_t k : A.fg_map)
    if (k >= 0) {
      sum += map.v[k];
      ++count;
    }
  for (size_t n = 0; n < B.fg.size(); ++n)
    if (B.fg_map[n] >= 0 && !A.mask[B.fg[n]]) {
      sum += map.v[B.fg_map[n]];
      ++count;
    }
  // Foreground only within the cropped border: no window to judge it by, fall back on the overlap.
  t.ssim = count ? std::clamp(sum / static_cast<double>(count), 0.0, 1.0) : t.iou;

  const double diag = std::hypot(static_cast<double>(w), static_cast<double>(h));
  const double d = 0.5 * (mean_distance(A, B) + mean_distance(B, A));
  t.proximity = std::exp(-d / (o.proximity_scale * diag));
  t.colour = histogram_intersection(A.hist, B.hist);
  t.area = static_cast<double>(std::min(A.fg.size(), B.fg.size())) / static_cast<double>(std::max(A.fg.size(), B.fg.size()));
  t.score = weighted(t, o);
  return t;
}

size_t frame_hash(const video::Image& im) {
  size_t h = std::hash<std::string_view>{}(
      std::string_view(reinterpret_cast<const char*>(im.pixels.data()), im.pixels.size()));
  return h ^ (static_cast<size_t>(im.width) * 0x9E3779B97F4A7C15ULL + static_cast<size_t>(im.height) * 31u + im.channels);
}

// Positions of the distinct frames and, per frame, the position of its representative.
std::pair<std::vector<size_t>, std::vector<size_t>> distinct(const std::vector<video::Image>& v) {
  std::vector<size_t> reps, of(v.size());
  std::unordered_multimap<size_t, size_t> seen;
  for (size_t i = 0; i < v.size(); ++i) {
    const size_t h = frame_hash(v[i]);
    bool found = false;
    auto range = seen.equal_range(h);
    for (auto it = range.first; it != range.second && !found; ++it) {
      const auto& o = v[reps[it->second]];
      if (o.width == v[i].width && o.height == v[i].height && o.channels == v[i].channels && o.pixels == v[i].pixels) {
        of[i] = it->second;
        found = true;
      }
    }
    if (!found) {
      of[i] = reps.size();
      seen.emplace(h, reps.size());
      reps.push_back(i);
    }
  }
  return {reps, of};
}

}  // namespace

Rgb estimate_background(const std::vector<video::Image>& frames) {
  if (frames.empty()) throw Error("estimate_background: no frames");
  const int ch = frames[0].channels;
  std::unordered_map<uint32_t, size_t> counts;
  for (const auto& im : frames) {
    check_frame(im, "background");
    if (im.channels != ch) throw Error("estimate_background: frames mix RGB and gray");
    const int w = im.width, h = im.height;
    auto add = [&](int x, int y) {
      const uint8_t* p = im.pixels.data() + (static_cast<size_t>(y) * w + x) * ch;
      const uint32_t key = ch == 3 ? (uint32_t(p[0]) << 16 | uint32_t(p[1]) << 8 | p[2]) : (uint32_t(p[0]) * 0x010101u);
      ++counts[key];
    };
    for (int x = 0; x < w; ++x) {
      add(x, 0);
      if (h > 1) add(x, h - 1);
    }
    for (int y = 1; y + 1 < h; ++y) {
      add(0, y);
      if (w > 1) add(w - 1, y);
    }
  }
  uint32_t best = 0;
  size_t best_n = 0;
  for (const auto& [k, n] : counts)
    if (n > best_n || (n == best_n && k < best)) {
      best = k;
      best_n = n;
    }
  return Rgb{static_cast<uint8_t>(best >> 16), static_cast<uint8_t>(best >> 8), static_cast<uint8_t>(best)};
}

std::vector<uint8_t> foreground_mask(const video::Image& frame, Rgb bg, int tolerance) {
  check_frame(frame, "mask");
  const size_t n = static_cast<size_t>(frame.width) * frame.height;
  std::vector<uint8_t> mask(n, 0);
  const uint8_t* p = frame.pixels.data();
  if (frame.channels == 3) {
    for (size_t i = 0; i < n; ++i, p += 3)
      mask[i] = std::abs(p[0] - bg.r) > tolerance || std::abs(p[1] - bg.g) > tolerance ||
                std::abs(p[2] - bg.b) > tolerance;
  } else {
    const int g = (bg.r * 299 + bg.g * 587 + bg.b * 114 + 500) / 1000;
    for (size_t i = 0; i < n; ++i) mask[i] = std::abs(p[i] - g) > tolerance;
  }
  return mask;
}

double mask_iou(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b) {
  if (a.size() != b.size())
    throw Error("mask_iou: masks of different sizes (" + std::to_string(a.size()) + " vs " + std::to_string(b.size()) + ")");
  size_t inter = 0, uni = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    const bool x = a[i] != 0, y = b[i] != 0;
    inter += x && y;
    uni += x || y;
  }
  return uni ? static_cast<double>(inter) / static_cast<double>(uni) : 1.0;
}

std::vector<double> colour_histogram(const video::Image& frame, const std::vector<uint8_t>& mask, int bins) {
  check_frame(frame, "histogram");
  if (bins < 1 || bins > 64) throw Error("colour_histogram: bins must be in [1, 64]");
  const size_t n = static_cast<size_t>(frame.width) * frame.height;
  if (mask.size() != n) throw Error("colour_histogram: the mask does not match the frame size");
  const int ch = frame.channels;
  std::vector<double> h(ch == 3 ? static_cast<size_t>(bins) * bins * bins : static_cast<size_t>(bins), 0.0);
  auto bin = [&](uint8_t v) { return static_cast<size_t>(v) * bins / 256; };
  size_t total = 0;
  for (size_t i = 0; i < n; ++i) {
    if (!mask[i]) continue;
    const uint8_t* p = frame.pixels.data() + i * ch;
    const size_t k = ch == 3 ? (bin(p[0]) * bins + bin(p[1])) * bins + bin(p[2]) : bin(p[0]);
    h[k] += 1.0;
    ++total;
  }
  if (total)
    for (auto& v : h) v /= static_cast<double>(total);
  return h;
}

double histogram_intersection(const std::vector<double>& a, const std::vector<double>& b) {
  if (a.size() != b.size()) throw Error("histogram_intersection: histograms of different sizes");
  double sa = 0.0, sb = 0.0, s = 0.0;
  for (size_t i = 0; i < a.size(); ++i) {
    sa += a[i];
    sb += b[i];
    s += std::min(a[i], b[i]);
  }
  if (sa == 0.0 && sb == 0.0) return 1.0;
  if (sa == 0.0 || sb == 0.0) return 0.0;
  return std::clamp(s, 0.0, 1.0);
}

FrameTerms frame_pair_terms(const video::Image& ref, Rgb ref_bg, const video::Image& gen, Rgb gen_bg,
                            const ForegroundOptions& opts) {
  check_options(opts);
  check_frame(ref, "reference");
  check_frame(gen, "generated");
  if (ref.channels != gen.channels) throw Error("FVS: the two frames differ in channel count (RGB vs gray)");
  Prepared A(ref, ref_bg, opts);
  Prepared B(gen.width == ref.width && gen.height == ref.height ? gen : resized(gen, ref.width, ref.height), gen_bg,
             opts);
  SsimMap map;
  return pair_terms(A, B, opts, map);
}

ForegroundScore s_fg(const std::vector<video::Image>& ref, const std::vector<video::Image>& gen,
                     const ForegroundOptions& opts) {
  check_options(opts);
  ForegroundScore out;
  out.n = ref.size();
  out.m = gen.size();
  if (ref.empty() || gen.empty()) return out;
  for (const auto& im : ref) check_frame(im, "reference");
  for (const auto& im : gen) check_frame(im, "generated");
  const int ch = ref[0].channels;
  for (const auto& v : {&ref, &gen})
    for (const auto& im : *v)
      if (im.channels != ch) throw Error("FVS: the frames mix RGB and gray", "decode both videos the same way");
  out.ref_background = estimate_background(ref);
  out.gen_background = estimate_background(gen);

  // Distinct frames, prepared once each at the reference size (frames of other sizes are resized).
  const auto [rreps, rof] = distinct(ref);
  const auto [greps, gof] = distinct(gen);
  const int w = ref[rreps[0]].width, h = ref[rreps[0]].height;
  std::vector<std::unique_ptr<Prepared>> pr(rreps.size()), pg(greps.size());
  const size_t np = rreps.size() + greps.size();
  parallel_for(
      np,
      [&](size_t k) {
        const bool is_ref = k < rreps.size();
        const video::Image& im = is_ref ? ref[rreps[k]] : gen[greps[k - rreps.size()]];
        video::Image sized = im.width == w && im.height == h ? im : resized(im, w, h);
        auto p = std::make_unique<Prepared>(std::move(sized), is_ref ? out.ref_background : out.gen_background, opts);
        (is_ref ? pr[k] : pg[k - rreps.size()]) = std::move(p);
      },
      opts.threads);

  const size_t nr = pr.size(), ng = pg.size();
  std::vector<FrameTerms> terms(nr * ng);
  parallel_for(
      nr * ng,
      [&](size_t t) {
        thread_local SsimMap map;
        terms[t] = pair_terms(*pr[t / ng], *pg[t % ng], opts, map);
      },
      opts.threads);

  for (size_t i = 0; i < out.n; ++i) out.ref_empty += pr[rof[i]]->empty();
  for (size_t j = 0; j < out.m; ++j) out.gen_empty += pg[gof[j]]->empty();
  out.matrix.resize(out.n * out.m);
  for (size_t i = 0; i < out.n; ++i)
    for (size_t j = 0; j < out.m; ++j) out.matrix[i * out.m + j] = terms[rof[i] * ng + gof[j]].score;

  Seq x(out.n), y(out.m);
  for (size_t i = 0; i < out.n; ++i) x[i] = {static_cast<double>(i)};
  for (size_t j = 0; j < out.m; ++j) y[j] = {static_cast<double>(j)};
  const auto cost = [&](const std::vector<double>& a, const std::vector<double>& b) {
    return 1.0 - out.matrix[static_cast<size_t>(a[0]) * out.m + static_cast<size_t>(b[0])];
  };
  DtwResult d = dtw(x, y, cost);
  out.dtw_distance = d.distance;
  out.path = std::move(d.path);
  // Some path of length max(n, m) costs at most max(n, m) (every cost is <= 1), so the minimum does
  // too: the score is in [0, 1] without clamping (the clamp only absorbs rounding). Dividing by the
  // path's own length instead would reward padding the path with cheap pairs (a blank video's
  // frames all matched to the reference's one blank frame).
  out.score = std::clamp(1.0 - d.distance / static_cast<double>(std::max(out.n, out.m)), 0.0, 1.0);
  size_t both = 0;
  for (const auto& [i, j] : out.path) {
    const FrameTerms& t = terms[rof[i] * ng + gof[j]];
    if (t.empty_ref || t.empty_gen) continue;
    ++both;
    out.mean_ssim += t.ssim;
    out.mean_iou += t.iou;
    out.mean_proximity += t.proximity;
    out.mean_colour += t.colour;
    out.mean_area += t.area;
  }
  if (both) {
    out.mean_ssim /= both;
    out.mean_iou /= both;
    out.mean_proximity /= both;
    out.mean_colour /= both;
    out.mean_area /= both;
  }
  return out;
}

ForegroundScore s_fg(const video::Frames& ref, const video::Frames& gen, const ForegroundOptions& opts) {
  if ((ref.size() && ref.rgb.empty()) || (gen.size() && gen.rgb.empty()))
    throw Error("FVS needs RGB frames", "decode with SampleOptions::rgb = true");
  return s_fg(ref.rgb, gen.rgb, opts);
}

}  // namespace mtk::metrics
