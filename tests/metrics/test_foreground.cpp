// FVS (foreground visual score): its pieces on synthetic images, the SSIM map it builds on, and the
// whole score on real rendered videos.
#include <catch2/catch.hpp>

#include <cmath>
#include <random>

#include "../video/scenes.hpp"
#include "mtk/core/error.hpp"
#include "mtk/metrics/foreground.hpp"
#include "mtk/metrics/visual.hpp"
#include "mtk/video/decode.hpp"
#include "python_peer.hpp"

using namespace mtk::metrics;
using mtk::video::Image;

namespace {

Image canvas(int w, int h, Rgb bg) {
  Image im;
  im.width = w;
  im.height = h;
  im.channels = 3;
  im.pixels.resize(static_cast<size_t>(w) * h * 3);
  for (size_t i = 0; i < im.pixels.size(); i += 3) {
    im.pixels[i] = bg.r;
    im.pixels[i + 1] = bg.g;
    im.pixels[i + 2] = bg.b;
  }
  return im;
}

void rect(Image& im, int x, int y, int w, int h, Rgb c) {
  for (int yy = y; yy < y + h; ++yy)
    for (int xx = x; xx < x + w; ++xx) {
      uint8_t* p = im.pixels.data() + (static_cast<size_t>(yy) * im.width + xx) * 3;
      p[0] = c.r;
      p[1] = c.g;
      p[2] = c.b;
    }
}

Image gray_of(const Image& rgb) {
  Image g;
  g.width = rgb.width;
  g.height = rgb.height;
  g.channels = 1;
  for (size_t i = 0; i < rgb.pixels.size(); i += 3)
    g.pixels.push_back(static_cast<uint8_t>((rgb.pixels[i] * 299 + rgb.pixels[i + 1] * 587 + rgb.pixels[i + 2] * 114 + 500) / 1000));
  return g;
}

const Rgb kBlack{0, 0, 0}, kRed{252, 98, 85}, kBlue{88, 196, 221}, kWhite{255, 255, 255};

}  // namespace

TEST_CASE("background colour: the mode of the border pixels", "[foreground]") {
  Image a = canvas(64, 48, Rgb{30, 40, 50});
  rect(a, 0, 10, 64, 8, kWhite);  // an object crossing the whole frame touches the border
  rect(a, 20, 20, 30, 25, kRed);  // a big object in the middle does not count
  CHECK(estimate_background({a}) == Rgb{30, 40, 50});
  CHECK(estimate_background({gray_of(a)}) == Rgb{gray_of(a).pixels[0], gray_of(a).pixels[0], gray_of(a).pixels[0]});
  // Over frames: a frame filled by an object does not win against the others.
  CHECK(estimate_background({a, canvas(64, 48, kWhite), a}) == Rgb{30, 40, 50});
  CHECK_THROWS_AS(estimate_background({}), mtk::Error);
  CHECK_THROWS_AS(estimate_background({a, gray_of(a)}), mtk::Error);
}

TEST_CASE("foreground masks and their IoU", "[foreground]") {
  Image a = canvas(40, 30, kBlack);
  rect(a, 5, 5, 10, 10, kRed);
  a.pixels[(0 * 40 + 0) * 3] = 20;  // compression noise below the tolerance
  auto m = foreground_mask(a, kBlack, 24);
  size_t n = 0;
  for (auto v : m) n += v;
  CHECK(n == 100);
  CHECK(m[5 * 40 + 5] == 1);
  CHECK(m[0] == 0);
  CHECK(foreground_mask(a, kBlack, 19)[0] == 1);
  // Gray frames: the background's gray level.
  CHECK(foreground_mask(gray_of(a), kBlack, 24) == m);

  Image b = canvas(40, 30, kBlack);
  rect(b, 10, 5, 10, 10, kRed);  // 5 px to the right: overlap 50, union 150
  const auto mb = foreground_mask(b, kBlack, 24);
  CHECK(mask_iou(m, mb) == Approx(50.0 / 150.0).epsilon(1e-15));
  CHECK(mask_iou(m, m) == 1.0);
  const std::vector<uint8_t> empty(m.size(), 0);
  CHECK(mask_iou(empty, empty) == 1.0);
  CHECK(mask_iou(m, empty) == 0.0);
  CHECK_THROWS_AS(mask_iou(m, std::vector<uint8_t>(10, 0)), mtk::Error);
}

TEST_CASE("colour term: histogram intersection of the foreground colours", "[foreground]") {
  Image red = canvas(40, 30, kBlack), blue = red, half = red;
  rect(red, 5, 5, 10, 10, kRed);
  rect(blue, 20, 10, 10, 10, kBlue);  // position does not matter
  rect(half, 5, 5, 10, 5, kRed);
  rect(half, 5, 10, 10, 5, kBlue);
  auto h = [](const Image& im) { return colour_histogram(im, foreground_mask(im, kBlack, 24), 8); };
  CHECK(h(red).size() == 512);
  CHECK(histogram_intersection(h(red), h(red)) == Approx(1.0));
  CHECK(histogram_intersection(h(red), h(blue)) == 0.0);
  CHECK(histogram_intersection(h(red), h(half)) == Approx(0.5));
  const auto none = h(canvas(40, 30, kBlack));
  CHECK(histogram_intersection(none, none) == 1.0);
  CHECK(histogram_intersection(none, h(red)) == 0.0);
}

TEST_CASE("frame pair terms: identical, empty, recoloured, shifted, different", "[foreground]") {
  const int W = 160, H = 120;
  Image base = canvas(W, H, kBlack);
  rect(base, 40, 30, 40, 40, kBlue);
  Image recol = canvas(W, H, kBlack);
  rect(recol, 40, 30, 40, 40, kRed);
  Image shifted = canvas(W, H, kBlack);
  rect(shifted, 50, 30, 40, 40, kBlue);  // 10 px right: IoU = 30*40 / (50*40)
  Image other = canvas(W, H, kBlack);
  rect(other, 110, 80, 40, 8, kWhite);
  const Image blank = canvas(W, H, kBlack);

  const auto same = frame_pair_terms(base, kBlack, base, kBlack);
  CHECK(same.score == Approx(1.0).margin(1e-12));
  CHECK(same.iou == 1.0);
  CHECK(same.proximity == 1.0);
  CHECK(same.colour == Approx(1.0));

  const auto ee = frame_pair_terms(blank, kBlack, blank, kBlack);
  CHECK(ee.empty_ref);
  CHECK(ee.empty_gen);
  CHECK(ee.score == 1.0);
  CHECK(frame_pair_terms(base, kBlack, blank, kBlack).score == 0.0);
  CHECK(frame_pair_terms(blank, kBlack, base, kBlack).score == 0.0);
  // Each video's own background: a white-background copy of the same drawing is still the same drawing.
  Image white_bg = canvas(W, H, kWhite);
  rect(white_bg, 40, 30, 40, 40, kBlue);
  CHECK(frame_pair_terms(base, kBlack, white_bg, kWhite).iou == 1.0);

  const auto rc = frame_pair_terms(base, kBlack, recol, kBlack);
  CHECK(rc.iou == 1.0);
  CHECK(rc.proximity == 1.0);
  CHECK(rc.colour == 0.0);
  CHECK(rc.ssim < 1.0);
  CHECK(rc.ssim > 0.8);  // the structure is the same, only the gray level moved

  const auto sh = frame_pair_terms(base, kBlack, shifted, kBlack);
  CHECK(sh.iou == Approx(1200.0 / 2000.0));
  CHECK(sh.colour == Approx(1.0));
  CHECK(sh.proximity < 1.0);
  CHECK(sh.proximity > 0.8);

  const auto df = frame_pair_terms(base, kBlack, other, kBlack);
  CHECK(df.iou == 0.0);
  INFO("recoloured " << rc.score << " shifted " << sh.score << " different " << df.score);
  CHECK(rc.score < 1.0);
  CHECK(rc.score > sh.score);
  CHECK(sh.score > df.score);
  CHECK(df.score > 0.0);
  // Weights: the terms' weighted mean.
  const ForegroundOptions o;
  CHECK(sh.area == 1.0);
  CHECK(df.area == Approx(320.0 / 1600.0));
  CHECK(sh.score == Approx((o.w_ssim * sh.ssim + o.w_iou * sh.iou + o.w_proximity * sh.proximity + o.w_colour * sh.colour +
                            o.w_area * sh.area) /
                           (o.w_ssim + o.w_iou + o.w_proximity + o.w_colour + o.w_area)));
}

TEST_CASE("FVS of frame sequences: DTW mean, blank and one-frame videos", "[foreground]") {
  const int W = 160, H = 120;
  std::vector<Image> scene;
  for (int k = 0; k < 4; ++k) {
    Image f = canvas(W, H, kBlack);
    if (k > 0) rect(f, 20 + 20 * k, 30, 30, 30, kBlue);  // frame 0 is blank, as Create's first frame
    scene.push_back(f);
  }
  const std::vector<Image> blank(3, canvas(W, H, kBlack));
  CHECK(s_fg(scene, scene).score == 1.0);
  CHECK(s_fg(blank, blank).score == 1.0);
  const auto sb = s_fg(scene, blank);
  // Only the scene's blank frame can match: the best path pairs it with a blank frame (cost 0) and
  // the three drawn frames with blank ones (cost 1 each).
  CHECK(sb.dtw_distance == 3.0);
  CHECK(sb.score == Approx(1.0 - 3.0 / 4.0));
  CHECK(sb.score <= 0.25);
  CHECK(sb.ref_empty == 1);
  CHECK(sb.gen_empty == 3);
  CHECK(sb.matrix.size() == 12);
  CHECK(s_fg(scene, {}).score == 0.0);
  CHECK(s_fg({}, scene).score == 0.0);

  // S_SSIM scores any two one-frame videos 1; FVS does not.
  Image one = canvas(W, H, kBlack), two = canvas(W, H, kBlack);
  rect(one, 10, 10, 30, 30, kRed);
  rect(two, 100, 70, 50, 20, kWhite);
  CHECK(s_ssim({gray_of(one)}, {gray_of(two)}).score == 1.0);
  const auto st = s_fg({one}, {two});
  CHECK(st.score < 0.3);
  CHECK(st.path.size() == 1);

  // Frames of another size are resized to the reference's.
  Image big = canvas(2 * W, 2 * H, kBlack);
  rect(big, 2 * 40, 2 * 30, 2 * 30, 2 * 30, kBlue);
  CHECK(s_fg({scene[1]}, {big}).mean_iou > 0.9);
  CHECK_THROWS_AS(s_fg({scene[1]}, {gray_of(scene[1])}), mtk::Error);
}

TEST_CASE("SSIM map: its mean is ssim(), each entry the windowed formula", "[foreground]") {
  std::mt19937 rng(7);
  Image a, b;
  a.width = b.width = 53;
  a.height = b.height = 41;
  a.channels = b.channels = 1;
  for (int i = 0; i < 53 * 41; ++i) {
    // Sparse, Manim-like: mostly zero, so every case of the span logic is exercised.
    a.pixels.push_back(rng() % 4 == 0 ? static_cast<uint8_t>(rng() % 256) : 0);
    b.pixels.push_back(i % 53 > 20 && rng() % 3 == 0 ? static_cast<uint8_t>(rng() % 256) : 0);
  }
  const SsimMap m = ssim_map(a, b);
  REQUIRE(m.width == 47);
  REQUIRE(m.height == 35);
  CHECK(m.offset == 3);
  double sum = 0.0;
  for (double v : m.v) sum += v;
  CHECK(sum / m.v.size() == Approx(ssim(a, b)).margin(1e-12));
  // Entry (o, q) against the formula on the window with top-left (o, q), in plain doubles.
  const double C1 = std::pow(0.01 * 255, 2), C2 = std::pow(0.03 * 255, 2), N = 49, cn = N / (N - 1);
  for (int q = 0; q < m.height; q += 5)
    for (int o = 0; o < m.width; o += 3) {
      double sx = 0, sy = 0, sxx = 0, syy = 0, sxy = 0;
      for (int dy = 0; dy < 7; ++dy)
        for (int dx = 0; dx < 7; ++dx) {
          const double p = a.pixels[(q + dy) * 53 + o + dx], r = b.pixels[(q + dy) * 53 + o + dx];
          sx += p;
          sy += r;
          sxx += p * p;
          syy += r * r;
          sxy += p * r;
        }
      const double ux = sx / N, uy = sy / N;
      const double vx = cn * (sxx / N - ux * ux), vy = cn * (syy / N - uy * uy), vxy = cn * (sxy / N - ux * uy);
      const double want = ((2 * ux * uy + C1) * (2 * vxy + C2)) / ((ux * ux + uy * uy + C1) * (vx + vy + C2));
      INFO("o " << o << " q " << q);
      CHECK(m.at(o, q) == Approx(want).margin(1e-12));
    }
  SsimFrame fa(a), fb(b);
  SsimMap m2;
  ssim_map(fa, fb, m2);
  CHECK(m2.v == m.v);
  Image small = a;
  small.width = 52;
  small.pixels.resize(52 * 41);
  CHECK_THROWS_AS(ssim_map(fa, SsimFrame(small), m2), mtk::Error);
}

TEST_CASE("FVS on real renders: identical > recoloured > shifted > different > blank", "[foreground]") {
  std::map<std::string, mtk::video::Frames> f;
  mtk::video::SampleOptions so;
  so.rgb = true;
  for (const auto& s : mtk::testing::fixture_scenes()) {
    if (s.name != "square" && s.name != "square_red" && s.name != "square_shift" && s.name != "text" &&
        s.name != "still" && s.name != "square_small")
      continue;
    f[s.name] = mtk::video::load_frames(mtk::testing::render_scene(s.code, s.scene, s.args), so);
  }
  const std::string blank_code = mtk::testing::manim_file("class Blank(Scene):\n    def construct(self):\n        self.wait(1)\n");
  f["blank"] = mtk::video::load_frames(mtk::testing::render_scene(blank_code, "Blank"), so);
  auto fvs = [&](const char* a, const char* b) { return s_fg(f[a], f[b]); };
  const auto same = fvs("square", "square");
  CHECK(same.score == 1.0);
  CHECK(same.ref_background == Rgb{0, 0, 0});
  const double red = fvs("square", "square_red").score, shift = fvs("square", "square_shift").score,
               text = fvs("square", "text").score, blank = fvs("square", "blank").score;
  INFO("recoloured " << red << " shifted " << shift << " different " << text << " blank " << blank);
  CHECK(red < 1.0);
  CHECK(red > shift);
  CHECK(shift > text);
  CHECK(text > blank);
  CHECK(blank < 0.2);
  CHECK(fvs("blank", "blank").score == 1.0);
  // The same scene at 640x360: resized, nearly the same.
  CHECK(fvs("square", "square_small").score > 0.85);
  // The paper's S_SSIM ranks the blank video above the unrelated one; FVS does not.
  const double ssim_text = s_ssim(f["square"].gray, f["text"].gray).score;
  const double ssim_blank = s_ssim(f["square"].gray, f["blank"].gray).score;
  WARN("square vs text / blank: S_SSIM " << ssim_text << " / " << ssim_blank << ", FVS " << text << " / " << blank);
  // A still (one-frame video) against a one-frame blank: S_SSIM 1, FVS 0.
  CHECK(fvs("still", "still").score == 1.0);
  CHECK(s_fg(f["still"], mtk::video::Frames{{}, {f["blank"].rgb[0]}, {0}}).score == 0.0);
}
