#pragma once
// `manim-bench score`: render references (cached) and predictions (worker pool), score each item
// with every visual metric available (the paper's S_SSIM; FVS, metrics/foreground.hpp), and write
// results JSONL plus Markdown, CSV and JSON summaries, and run_meta.json (core/run_meta.hpp: git
// revision, versions, the CLIP weights' sha256, the options).
//
// Metrics are recorded by name (ItemResult::metrics, Group::sums), so adding one (S_CLIP, VS) is
// one entry in visual_metrics() plus its computation in src/bench/score.cpp; a metric that cannot
// be computed in a run (e.g. no CLIP weights) is listed in `unavailable` with the reason.
#include <cstddef>
#include <map>
#include <string>
#include <vector>

namespace mtk::bench {

struct ScoreOptions {
  std::string dataset = "samples";     // name ("samples", "manimbench") or JSONL path
  std::string split = "test";          // train / test / all
  std::string predictions = "reference";  // JSONL of {id, code} or {id, completion}; "reference" = oracle
  std::string out_dir = "runs/score";
  unsigned workers = 0;                // concurrent renders (0 = cores)
  double timeout_s = 300;              // per render, wall clock
  double disk_quota_mib = 2048;        // per render job: its directory's disk quota
  bool use_cache = true;               // content-addressed render cache
  bool allow_unsandboxed = false;      // run Manim without bubblewrap (unsafe)
  bool exact_dtw = false;              // exact DTW instead of the paper's FastDTW
  bool resume = true;                  // reuse items already scored in out_dir for the same inputs
  size_t limit = 0;                    // first N tasks only (0 = all)
  unsigned metric_threads = 0;         // threads for the SSIM matrix (0 = cores)
  // CLIP ViT-L/14 weights for S_CLIP and VS: a Hugging Face directory. "" = models/clip-vit-large-patch14
  // when present (scripts/fetch_models.sh clip), else S_CLIP and VS are reported unavailable;
  // "none" = off.
  std::string clip_model;
  std::string device = "cpu";          // for the CLIP encoder: cpu or cuda
};

// The visual metrics `score` reports, in column order ("S_SSIM", "FVS").
const std::vector<std::string>& visual_metrics();

struct ItemResult {
  std::string id, type;
  bool has_code = false;          // code could be extracted from the prediction
  bool ref_ok = false, pred_ok = false;
  std::string ref_failure, pred_failure;  // failure class names ("none" on success)
  std::string pred_error;         // one-line error of the prediction's render
  double s_ssim = 0.0;            // 0 when the prediction failed to render (paper convention)
  double dtw_distance = 0.0;      // S_SSIM's
  // Every visual metric computed for this item, by name (S_SSIM repeated here); 0 for a failed
  // render. Metrics not computed are in `unavailable` as "NAME: reason".
  std::map<std::string, double> metrics;
  std::vector<std::string> unavailable;
  std::map<std::string, double> details;  // e.g. "FVS.iou": the FVS terms' means along its path
  size_t ref_frames = 0, pred_frames = 0;
  double ref_render_s = 0.0, pred_render_s = 0.0, metric_s = 0.0;
  bool ref_cached = false, pred_cached = false;
  std::string key;                // hash of (ref code, pred code, metric settings) for resume
};

struct Group {
  size_t items = 0, rendered = 0, ref_rendered = 0;
  double sum_s_ssim = 0.0;        // over all items (failures count 0)
  std::map<std::string, double> sums;  // per visual metric, over all items (failures count 0)
  double rsr() const { return items ? double(rendered) / items : 0.0; }
  double mean_s_ssim() const { return items ? sum_s_ssim / items : 0.0; }
  double mean(const std::string& metric) const {
    auto it = sums.find(metric);
    return items && it != sums.end() ? it->second / items : 0.0;
  }
};

struct ScoreSummary {
  Group overall;
  std::map<std::string, Group> by_type;
  std::map<std::string, size_t> failures;  // prediction failure class -> count
  std::vector<ItemResult> items;
  std::vector<std::string> metrics;      // visual metrics computed in this run, column order
  std::vector<std::string> unavailable;  // "NAME: reason" for those that were not
  double wall_s = 0.0;
};

ScoreSummary run_score(const ScoreOptions& opts);

// Writers (used by run_score; exposed for tests and other reports).
std::string summary_markdown(const ScoreSummary& s, const ScoreOptions& opts);
std::string summary_csv(const ScoreSummary& s);

}  // namespace mtk::bench
