#include "mtk/reward/visual.hpp"

#include "mtk/encoders/clip.hpp"
#include "mtk/metrics/clip_score.hpp"

namespace mtk::reward {

std::shared_ptr<const encoders::ClipVisionEncoder> load_clip(const std::string& dir, const std::string& device) {
  encoders::ClipOptions co;
  co.device = device;
  return std::make_shared<const encoders::ClipVisionEncoder>(encoders::ClipVisionEncoder::load(dir, co));
}

std::vector<std::string> visual_metric_names(bool with_clip) {
  if (with_clip) return {"S_SSIM", "FVS", "S_CLIP", "VS"};
  return {"S_SSIM", "FVS"};
}

VisualScores score_frames(const video::Frames& ref, const video::Frames& pred, const VisualOptions& opts) {
  VisualScores r;
  auto sc = metrics::s_ssim(ref.gray, pred.gray, opts.ssim);
  r.dtw_distance = sc.dtw_distance;
  r.ref_frames = sc.n;
  r.pred_frames = sc.m;
  r.metrics["S_SSIM"] = sc.score;
  auto fg = metrics::s_fg(ref, pred, opts.foreground);
  r.metrics["FVS"] = fg.score;
  r.details["FVS.ssim"] = fg.mean_ssim;
  r.details["FVS.iou"] = fg.mean_iou;
  r.details["FVS.proximity"] = fg.mean_proximity;
  r.details["FVS.colour"] = fg.mean_colour;
  r.details["FVS.area"] = fg.mean_area;
  r.details["FVS.ref_empty_frames"] = static_cast<double>(fg.ref_empty);
  r.details["FVS.pred_empty_frames"] = static_cast<double>(fg.gen_empty);
  if (opts.clip) {  // the paper's VS = sqrt(S_SSIM * S_CLIP)
    auto ref_emb = opts.clip->encode_images(ref.rgb);
    auto pred_emb = &ref == &pred ? ref_emb : opts.clip->encode_images(pred.rgb);
    auto cs = metrics::s_clip(ref_emb, pred_emb);
    r.metrics["S_CLIP"] = cs.score;
    r.metrics["VS"] = metrics::combine_visual(true, sc.score, cs.score).vs.value_or(0.0);
  }
  return r;
}

}  // namespace mtk::reward
