#pragma once
// The visual side of a reward: every visual metric of a rendered (reference, completion) pair
// that the available encoders allow: the paper's S_SSIM, FVS (metrics/foreground.hpp) and, with
// CLIP ViT-L/14 weights, S_CLIP and VS = sqrt(S_SSIM * S_CLIP). `manim-bench score` and GRPO's
// reward use the same function, so training and benchmark report the same numbers.
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "mtk/metrics/foreground.hpp"
#include "mtk/metrics/visual.hpp"
#include "mtk/video/decode.hpp"

namespace mtk::encoders {
class ClipVisionEncoder;
}

namespace mtk::reward {

struct VisualOptions {
  metrics::SSimScoreOptions ssim;
  metrics::ForegroundOptions foreground;
  const encoders::ClipVisionEncoder* clip = nullptr;  // null: no S_CLIP or VS
};

struct VisualScores {
  std::map<std::string, double> metrics;  // "S_SSIM", "FVS", and "S_CLIP", "VS" with CLIP
  std::map<std::string, double> details;  // "FVS.iou" and the other FVS terms' means along its path
  double dtw_distance = 0;                // S_SSIM's
  size_t ref_frames = 0, pred_frames = 0;
};

// CLIP ViT-L/14 (or any CLIP vision tower) from a Hugging Face directory, on "cpu" or "cuda":
// what VisualOptions::clip points to. Throws mtk::Error naming the fix when it cannot be loaded.
std::shared_ptr<const encoders::ClipVisionEncoder> load_clip(const std::string& dir, const std::string& device = "cpu");

// The visual metrics, in report order: S_SSIM, FVS, S_CLIP, VS (the last two only `with_clip`).
std::vector<std::string> visual_metric_names(bool with_clip);

// Frames sampled with video::SampleOptions{gray = true, rgb = true}. `pred` may be `ref` itself
// (identical code shares one render); its CLIP embeddings are then computed once.
VisualScores score_frames(const video::Frames& ref, const video::Frames& pred, const VisualOptions& opts);

}  // namespace mtk::reward
