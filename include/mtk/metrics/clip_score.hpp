#pragma once
// S_CLIP and the paper's visual similarity VS (../shared/DESIGN.md "Fidelity"):
//   S_CLIP = exp(-dist / max(n, m)), dist = FastDTW (radius 1) between the reference's and the
//            generated video's L2-normalised CLIP ViT-L/14 frame embeddings with cost 1 - x.y
//            (the paper's `lambda x, y: 1 - np.dot(x, y)`, = 1 - cosine for unit vectors)
//   VS     = sqrt(S_SSIM * S_CLIP), 0 when the generated code failed to render.
// Every result records which terms were computed: without CLIP weights VS is unavailable (never
// replaced by something else) and S_SSIM stands alone.
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "mtk/metrics/dtw.hpp"
#include "mtk/metrics/visual.hpp"
#include "mtk/video/decode.hpp"

namespace mtk::encoders {
class ClipVisionEncoder;
}

namespace mtk::metrics {

using Embeddings = std::vector<std::vector<float>>;

struct ClipScoreOptions {
  bool exact_dtw = false;  // the paper uses FastDTW (radius 1)
  int radius = 1;
  bool cosine = false;     // cost 1 - cosine (renormalising) instead of the paper's 1 - dot
  FastDtwImpl dtw_impl = FastDtwImpl::python;
};

struct ClipScore {
  double score = 0.0;  // S_CLIP in [0, 1] (cost 1 - dot can exceed 1 for opposite vectors; then lower)
  double dtw_distance = 0.0;
  size_t n = 0, m = 0;  // reference / generated frame counts
  std::vector<std::pair<size_t, size_t>> path;
};

// Either side empty -> score 0. Vectors of different lengths throw mtk::Error.
ClipScore s_clip(const Embeddings& ref, const Embeddings& gen, const ClipScoreOptions& opts = {});

// VS with a record of what went into it.
struct VisualSimilarity {
  enum class Status {
    ok,                // both terms computed: vs = sqrt(s_ssim * s_clip)
    render_failed,     // vs = 0 (the paper's rule), no term computed
    clip_unavailable,  // no CLIP weights: vs unavailable, s_ssim alone
  };
  Status status = Status::clip_unavailable;
  bool has_ssim = false, has_clip = false;
  double s_ssim = 0.0, s_clip = 0.0;
  std::optional<double> vs;  // absent when unavailable
  std::string note;          // why a term is missing, for reports

  bool vs_available() const { return vs.has_value(); }
};

const char* to_string(VisualSimilarity::Status s);

// Combines computed terms: rendered == false -> render_failed (vs 0); no s_clip -> unavailable.
VisualSimilarity combine_visual(bool rendered, std::optional<double> s_ssim, std::optional<double> s_clip);

struct VisualSimilarityOptions {
  SSimScoreOptions ssim;
  ClipScoreOptions clip;
  int clip_batch = 8;
};

// From frames sampled with SampleOptions{gray = true, rgb = true} (rgb only needed with `clip`).
// clip == nullptr: S_SSIM alone, VS unavailable.
VisualSimilarity visual_similarity(const video::Frames& ref, const video::Frames& gen,
                                   const encoders::ClipVisionEncoder* clip, const VisualSimilarityOptions& opts = {},
                                   ClipScore* clip_detail = nullptr, SSimScore* ssim_detail = nullptr);

}  // namespace mtk::metrics
