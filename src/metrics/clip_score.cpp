// S_CLIP and VS (clip_score.hpp).
#include "mtk/metrics/clip_score.hpp"

#include <algorithm>
#include <cmath>

#include "mtk/core/error.hpp"
#include "mtk/encoders/clip.hpp"

namespace mtk::metrics {

ClipScore s_clip(const Embeddings& ref, const Embeddings& gen, const ClipScoreOptions& opts) {
  ClipScore out;
  out.n = ref.size();
  out.m = gen.size();
  if (ref.empty() || gen.empty()) return out;
  const size_t dim = ref[0].size();
  auto to_seq = [&](const Embeddings& e) {
    Seq s;
    s.reserve(e.size());
    for (const auto& v : e) {
      if (v.size() != dim || dim == 0) {
        throw Error("s_clip: embeddings of different sizes (" + std::to_string(v.size()) + " vs " +
                        std::to_string(dim) + ")",
                    "encode both videos with the same CLIP model");
      }
      s.emplace_back(v.begin(), v.end());
    }
    return s;
  };
  const Seq x = to_seq(ref), y = to_seq(gen);
  const Cost cost = opts.cosine ? Cost(cosine_cost) : Cost(one_minus_dot_cost);
  DtwResult d = opts.exact_dtw ? dtw(x, y, cost, opts.dtw_impl) : fastdtw(x, y, cost, opts.radius, opts.dtw_impl);
  out.dtw_distance = d.distance;
  out.path = std::move(d.path);
  out.score = std::exp(-d.distance / static_cast<double>(std::max(out.n, out.m)));
  return out;
}

const char* to_string(VisualSimilarity::Status s) {
  switch (s) {
    case VisualSimilarity::Status::ok: return "ok";
    case VisualSimilarity::Status::render_failed: return "render_failed";
    case VisualSimilarity::Status::clip_unavailable: return "clip_unavailable";
  }
  return "?";
}

VisualSimilarity combine_visual(bool rendered, std::optional<double> s_ssim, std::optional<double> s_clip) {
  VisualSimilarity v;
  if (!rendered) {
    v.status = VisualSimilarity::Status::render_failed;
    v.vs = 0.0;
    v.note = "render failed: VS = 0";
    return v;
  }
  v.has_ssim = s_ssim.has_value();
  v.has_clip = s_clip.has_value();
  if (v.has_ssim) v.s_ssim = *s_ssim;
  if (v.has_clip) v.s_clip = *s_clip;
  if (v.has_ssim && v.has_clip) {
    v.status = VisualSimilarity::Status::ok;
    v.vs = std::sqrt(std::max(0.0, v.s_ssim * v.s_clip));
  } else {
    v.status = VisualSimilarity::Status::clip_unavailable;
    v.note = v.has_clip ? "S_SSIM missing: VS unavailable"
                        : "no CLIP weights (scripts/fetch_models.sh clip): VS unavailable, S_SSIM alone";
  }
  return v;
}

VisualSimilarity visual_similarity(const video::Frames& ref, const video::Frames& gen,
                                   const encoders::ClipVisionEncoder* clip, const VisualSimilarityOptions& opts,
                                   ClipScore* clip_detail, SSimScore* ssim_detail) {
  if (ref.gray.size() != ref.size() || gen.gray.size() != gen.size()) {
    throw Error("visual_similarity needs grayscale frames", "sample with SampleOptions{gray = true}");
  }
  SSimScore ss = s_ssim(ref.gray, gen.gray, opts.ssim);
  std::optional<double> sc;
  if (clip) {
    if (ref.rgb.size() != ref.size() || gen.rgb.size() != gen.size()) {
      throw Error("visual_similarity with CLIP needs RGB frames", "sample with SampleOptions{rgb = true}");
    }
    const ClipScore c = s_clip(clip->encode_images(ref.rgb, opts.clip_batch), clip->encode_images(gen.rgb, opts.clip_batch),
                               opts.clip);
    sc = c.score;
    if (clip_detail) *clip_detail = c;
  }
  VisualSimilarity v = combine_visual(true, ss.score, sc);
  if (ssim_detail) *ssim_detail = std::move(ss);
  return v;
}

}  // namespace mtk::metrics
