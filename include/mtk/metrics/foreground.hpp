#pragma once
// FVS (foreground visual score, S_FG): a visual similarity for Manim videos that looks at what is
// drawn, not at the background. Not from the paper; reported beside its S_SSIM.
//
// Why: Manim draws on a uniform (usually black) background, so the paper's S_SSIM is dominated by
// background pixels: a blank video scores about 0.99 against a real scene, more than an unrelated
// scene, and any two one-frame videos score exactly 1 (a_i = row maxima vs b_j = column maxima).
//
// Definition. Frames are sampled as for S_SSIM (every int(fps / 5)-th decoded frame), RGB.
//   Background: per video, the most frequent colour of the frame border pixels over all sampled
//     frames (exact 24-bit mode).
//   Foreground mask M of a frame: pixels whose colour differs from its video's background by more
//     than `tolerance` in some channel (max-abs, 8-bit levels).
//   Per frame pair (A, B) (B resized to A's size with INTER_AREA when the sizes differ):
//     both masks empty -> 1; exactly one empty -> 0; otherwise the weighted mean of five terms:
//     - ssim:      SSIM (gray, skimage's definition, ssim.hpp's map) averaged over the union of
//                  the two masks (map pixels whose window centre lies in M_A u M_B), clamped to
//                  [0, 1]: structure where something is drawn, background ignored;
//     - iou:       |M_A n M_B| / |M_A u M_B|: are things drawn in the same places;
//     - proximity: exp(-d / (proximity_scale * diagonal)), d the symmetric mean distance (pixels)
//                  from each mask's pixels to the nearest pixel of the other mask (chamfer
//                  distance, from distance transforms at half resolution): graded in how far
//                  things moved, so a small shift costs less than a different scene;
//     - colour:    histogram intersection of the foreground pixels' colours (colour_bins per
//                  channel, each histogram normalised): what colours are drawn, wherever they are.
//     - area:      min(|M_A|, |M_B|) / max(|M_A|, |M_B|): is about as much drawn; what keeps an
//                  unrelated drawing above no drawing at all.
//     Default weights 0.3 / 0.2 / 0.2 / 0.15 / 0.15: the colour term can cost a recoloured scene at
//     most 0.15, while a shift loses on ssim, iou and proximity together.
//   Video score: exact DTW (dtw.hpp, classic symmetric steps) over the cost 1 - score(ref_i, gen_j);
//     FVS = 1 - DTW distance / max(n, m) (the paper's S_SSIM normaliser), in [0, 1]: a staircase
//     path of length max(n, m) costs at most max(n, m). Not divided by the path's own length,
//     which would let a blank video pad its path with zero-cost pairs against the reference's
//     blank first frame. Exact rather than FastDTW: every pair's score is computed anyway (as
//     S_SSIM's matrix is), and exact DTW on that matrix costs next to nothing.
// Properties: identical videos score 1; a blank video (no foreground) against a scene scores at
// most the share of the scene's frames that are blank too; recolouring costs less than moving,
// moving less than a different scene (the ranking suite in tests/metrics/test_visual_ranking.cpp
// checks this on real renders). Either video with no frames: 0 (as S_SSIM).
#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

#include "mtk/metrics/ssim.hpp"
#include "mtk/video/image.hpp"

namespace mtk::video {
struct Frames;
}

namespace mtk::metrics {

struct ForegroundOptions {
  int tolerance = 24;  // a pixel is foreground when some channel differs from the background by more
  // Term weights (need not sum to 1; the score is their weighted mean).
  double w_ssim = 0.3, w_iou = 0.2, w_proximity = 0.2, w_colour = 0.15, w_area = 0.15;
  double proximity_scale = 0.05;  // fraction of the frame diagonal where proximity falls to 1/e
  int colour_bins = 8;            // per channel (8 -> 512 bins)
  SsimOptions ssim;               // the SSIM of the ssim term (skimage defaults)
  unsigned threads = 0;           // frame pairs in parallel (0 = cores)
};

struct Rgb {
  uint8_t r = 0, g = 0, b = 0;
  bool operator==(const Rgb& o) const { return r == o.r && g == o.g && b == o.b; }
};

// The background colour of a video: the mode of its frames' border pixels (RGB or gray frames;
// gray gives r = g = b). Throws mtk::Error for no frames or frames of mixed channel counts.
Rgb estimate_background(const std::vector<video::Image>& frames);

// 1 where the pixel differs from `bg` by more than `tolerance` in some channel, else 0 (w*h bytes).
std::vector<uint8_t> foreground_mask(const video::Image& frame, Rgb bg, int tolerance);

// |a n b| / |a u b| of two 0/1 masks of the same size; both empty -> 1. Throws for a size mismatch.
double mask_iou(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b);

// Normalised colour histogram (bins^3 for RGB, bins for gray) of the masked pixels; all zero for
// an empty mask.
std::vector<double> colour_histogram(const video::Image& frame, const std::vector<uint8_t>& mask, int bins);
// Sum of element-wise minima; 1 for two empty histograms, 0 when exactly one is empty.
double histogram_intersection(const std::vector<double>& a, const std::vector<double>& b);

struct FrameTerms {
  bool empty_ref = false, empty_gen = false;
  double ssim = 0.0, iou = 0.0, proximity = 0.0, colour = 0.0, area = 0.0;
  double score = 0.0;  // the weighted combination, in [0, 1]
};

// The terms of one frame pair, each frame with its video's background (for tests and tools;
// the video score computes these for all pairs with shared per-frame work).
FrameTerms frame_pair_terms(const video::Image& ref, Rgb ref_bg, const video::Image& gen, Rgb gen_bg,
                            const ForegroundOptions& opts = {});

struct ForegroundScore {
  double score = 0.0;         // FVS in [0, 1]
  double dtw_distance = 0.0;  // sum of 1 - frame score along the path; score = 1 - it / max(n, m)
  size_t n = 0, m = 0;        // reference / generated frame counts
  Rgb ref_background, gen_background;
  size_t ref_empty = 0, gen_empty = 0;  // frames without foreground
  // Means of the terms along the path (over pairs where both frames have a foreground; 0 if none).
  double mean_ssim = 0.0, mean_iou = 0.0, mean_proximity = 0.0, mean_colour = 0.0, mean_area = 0.0;
  std::vector<std::pair<size_t, size_t>> path;
  std::vector<double> matrix;  // n x m frame-pair scores, row-major
};

// RGB (or gray) frames of the reference and the generated video. Either side without frames -> 0.
// Throws mtk::Error for empty or malformed frames.
ForegroundScore s_fg(const std::vector<video::Image>& ref, const std::vector<video::Image>& gen,
                     const ForegroundOptions& opts = {});
// Decoded videos with SampleOptions::rgb set (their gray frames are not needed).
ForegroundScore s_fg(const video::Frames& ref, const video::Frames& gen, const ForegroundOptions& opts = {});

}  // namespace mtk::metrics
