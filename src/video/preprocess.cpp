// CLIP preprocessing (preprocess.hpp): PIL's bicubic resize, centre crop, normalisation. No libtorch.
//
// The resize follows Pillow's 8-bit resampling (libImaging/Resample.c, described here in our words):
// for each output coordinate xx, with scale = in / out and filterscale = max(scale, 1), the filter
// (bicubic, a = -0.5, support 2) is stretched by filterscale; the input taps are
// [int(center - support + 0.5), int(center + support + 0.5)) clipped to the image, center =
// (xx + 0.5) * scale, with weights filter((x - center + 0.5) / filterscale) normalised to sum 1 and
// then turned into fixed point with 22 fractional bits (rounded half away from zero). A pixel is
// (sum of byte * weight + 2^21) >> 22, clamped to 0..255. The horizontal pass runs first (only over
// the rows the vertical pass needs), its 8-bit output feeds the vertical pass.
#include <algorithm>
#include <cmath>
#include <cstdint>

#include "mtk/core/error.hpp"
#include "mtk/video/preprocess.hpp"

namespace mtk::video {

namespace {

constexpr int kPrecisionBits = 32 - 8 - 2;

double bicubic(double x) {
  constexpr double a = -0.5;
  x = std::fabs(x);
  if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0;
  if (x < 2.0) return (((x - 5.0) * x + 8.0) * x - 4.0) * a;
  return 0.0;
}

struct Taps {
  int ksize = 0;
  std::vector<int> first, count;  // per output coordinate
  std::vector<int32_t> k;         // out * ksize fixed-point weights
};

Taps taps(int in_size, int out_size) {
  const double scale = static_cast<double>(in_size) / out_size;
  const double filterscale = std::max(scale, 1.0);
  const double support = 2.0 * filterscale;
  Taps t;
  t.ksize = static_cast<int>(std::ceil(support)) * 2 + 1;
  t.first.resize(out_size);
  t.count.resize(out_size);
  t.k.assign(static_cast<size_t>(out_size) * t.ksize, 0);
  std::vector<double> w(t.ksize);
  for (int xx = 0; xx < out_size; ++xx) {
    const double center = (xx + 0.5) * scale;
    int xmin = static_cast<int>(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    int xmax = static_cast<int>(center + support + 0.5);
    if (xmax > in_size) xmax = in_size;
    xmax -= xmin;
    double ww = 0.0;
    for (int x = 0; x < xmax; ++x) {
      w[x] = bicubic((x + xmin - center + 0.5) / filterscale);
      ww += w[x];
    }
    for (int x = 0; x < xmax; ++x) {
      const double v = ww != 0.0 ? w[x] / ww : w[x];
      const double f = v * (1 << kPrecisionBits);
      t.k[static_cast<size_t>(xx) * t.ksize + x] = static_cast<int32_t>(v < 0 ? f - 0.5 : f + 0.5);
    }
    t.first[xx] = xmin;
    t.count[xx] = xmax;
  }
  return t;
}

inline uint8_t clip8(int64_t ss) {
  const int64_t v = ss >> kPrecisionBits;  // arithmetic shift: floor, as Pillow
  return static_cast<uint8_t>(v < 0 ? 0 : v > 255 ? 255 : v);
}

// Resamples the window [x0, x0 + w) x [y0, y0 + h) of the full out_w x out_h resize of img.
video::Image resize_window(const video::Image& img, int out_w, int out_h, int x0, int y0, int w, int h) {
  const int C = img.channels;
  const Taps tx = taps(img.width, out_w), ty = taps(img.height, out_h);
  // Rows of the input the vertical pass needs.
  const int r0 = ty.first[y0];
  int r1 = r0;
  for (int y = y0; y < y0 + h; ++y) r1 = std::max(r1, ty.first[y] + ty.count[y]);
  const int rows = r1 - r0;
  std::vector<uint8_t> tmp(static_cast<size_t>(rows) * w * C);
  for (int r = 0; r < rows; ++r) {
    const uint8_t* src = img.row(r0 + r);
    uint8_t* dst = tmp.data() + static_cast<size_t>(r) * w * C;
    for (int x = 0; x < w; ++x) {
      const int xx = x0 + x;
      const int32_t* k = tx.k.data() + static_cast<size_t>(xx) * tx.ksize;
      const int first = tx.first[xx], n = tx.count[xx];
      for (int c = 0; c < C; ++c) {
        int64_t ss = int64_t(1) << (kPrecisionBits - 1);
        for (int i = 0; i < n; ++i) ss += static_cast<int64_t>(src[(first + i) * C + c]) * k[i];
        dst[x * C + c] = clip8(ss);
      }
    }
  }
  video::Image out;
  out.width = w;
  out.height = h;
  out.channels = C;
  out.pixels.resize(static_cast<size_t>(w) * h * C);
  for (int y = 0; y < h; ++y) {
    const int yy = y0 + y;
    const int32_t* k = ty.k.data() + static_cast<size_t>(yy) * ty.ksize;
    const int first = ty.first[yy] - r0, n = ty.count[yy];
    uint8_t* dst = out.pixels.data() + static_cast<size_t>(y) * w * C;
    for (int x = 0; x < w * C; ++x) {
      int64_t ss = int64_t(1) << (kPrecisionBits - 1);
      for (int i = 0; i < n; ++i) ss += static_cast<int64_t>(tmp[static_cast<size_t>(first + i) * w * C + x]) * k[i];
      dst[x] = clip8(ss);
    }
  }
  return out;
}

void check_image(const video::Image& img) {
  if (img.empty() || (img.channels != 1 && img.channels != 3) ||
      img.pixels.size() != static_cast<size_t>(img.width) * img.height * img.channels) {
    throw Error("CLIP preprocessing needs a non-empty 8-bit gray or RGB image (got " + std::to_string(img.width) +
                    "x" + std::to_string(img.height) + "x" + std::to_string(img.channels) + ")",
                "decode frames with video::load_frames(..., rgb = true)");
  }
}

video::Image to_rgb(const video::Image& img) {
  if (img.channels == 3) return img;
  video::Image out{img.width, img.height, 3, {}};
  out.pixels.resize(img.pixels.size() * 3);
  for (size_t i = 0; i < img.pixels.size(); ++i) out.pixels[3 * i] = out.pixels[3 * i + 1] = out.pixels[3 * i + 2] = img.pixels[i];
  return out;
}

}  // namespace

video::Image pil_bicubic_resize(const video::Image& img, int width, int height) {
  check_image(img);
  if (width <= 0 || height <= 0) throw Error("resize to an empty size", "pass a positive width and height");
  return resize_window(img, width, height, 0, 0, width, height);
}

video::Image clip_resize_crop(const video::Image& in, int size) {
  check_image(in);
  const video::Image img = to_rgb(in);
  const int W = img.width, H = img.height;
  const bool wide = W > H;  // transformers: (short, long) = (W, H) if W <= H else (H, W)
  const int short_side = wide ? H : W, long_side = wide ? W : H;
  const int new_long = static_cast<int>(static_cast<double>(size) * long_side / short_side);
  const int ow = wide ? new_long : size, oh = wide ? size : new_long;
  if (ow == size && oh == size && W == size && H == size) return img;
  // Centre crop of the resized image (PIL path of transformers: (out - size) // 2). A side shorter
  // than the crop does not occur here: the short side is `size` and the long one at least that.
  const int left = (ow - size) / 2, top = (oh - size) / 2;
  return resize_window(img, ow, oh, left, top, size, size);
}

void clip_normalize(const video::Image& crop, float* dst) {
  if (crop.channels != 3 || crop.width != crop.height) {
    throw Error("clip_normalize needs a square RGB crop", "call clip_resize_crop first");
  }
  const size_t n = static_cast<size_t>(crop.width) * crop.height;
  for (int c = 0; c < 3; ++c) {
    float* out = dst + c * n;
    for (size_t i = 0; i < n; ++i) {
      const float x = static_cast<float>(crop.pixels[3 * i + c]) / 255.0f;
      out[i] = (x - kClipMean[c]) / kClipStd[c];
    }
  }
}

std::vector<float> clip_preprocess(const video::Image& img, int size) {
  const video::Image crop = clip_resize_crop(img, size);
  std::vector<float> out(static_cast<size_t>(3) * size * size);
  clip_normalize(crop, out.data());
  return out;
}

}  // namespace mtk::video
