// manim-bench score: render references (cached) and predictions (worker pool), score every item.
#include <cstdio>
#include <memory>

#include "mtk/bench/score.hpp"
#include "subcommands.hpp"

namespace mtk::apps::bench {

Subcommand add_score(CLI::App& app) {
  auto so_ptr = std::make_shared<mtk::bench::ScoreOptions>();
  auto& so = *so_ptr;
  auto* score = app.add_subcommand("score", "Render references (cached) and predictions (worker pool), "
                                            "compute render success and every visual metric available (S_SSIM, FVS) per item and overall");
  score->add_option("--dataset", so.dataset, "dataset name (samples, manimbench) or JSONL path")->capture_default_str();
  score->add_option("--split", so.split, "train, test or all")->capture_default_str();
  score->add_option("--predictions", so.predictions,
                    "JSONL of {id, code} or {id, completion}; 'reference' scores the references against themselves")
      ->capture_default_str();
  score->add_option("--out", so.out_dir, "output folder: results.jsonl, summary.md, summary.csv, summary.json")
      ->capture_default_str();
  score->add_option("-j,--workers", so.workers, "concurrent renders (0 = number of cores)")->capture_default_str();
  score->add_option("--timeout", so.timeout_s, "wall-clock limit per render, seconds")->capture_default_str();
  score->add_option("--disk-quota", so.disk_quota_mib, "disk quota of each render job, MiB")
      ->capture_default_str()->check(CLI::Range(64.0, 1e7));
  score->add_option("--limit", so.limit, "score only the first N tasks (0 = all)")->capture_default_str();
  score->add_flag("--exact-dtw", so.exact_dtw, "exact DTW instead of the paper's FastDTW (radius 1)");
  score->add_option("--clip", so.clip_model, "CLIP ViT-L/14 directory for S_CLIP and VS (default "
                                             "models/clip-vit-large-patch14 when present; none = off)");
  score->add_option("--device", so.device, "device for the CLIP encoder: cpu or cuda")->capture_default_str();
  score->add_flag("!--no-cache", so.use_cache, "render everything again instead of using the render cache");
  score->add_flag("!--no-resume", so.resume, "ignore items already scored by an interrupted run in --out");
  score->add_flag("--unsafe-no-sandbox", so.allow_unsandboxed,
                  "run Manim without bubblewrap when it is unavailable (generated code is untrusted: avoid)");
  return {score, [so_ptr] {
            const auto& so = *so_ptr;
            auto s = mtk::bench::run_score(so);
            std::printf("%s", mtk::bench::summary_markdown(s, so).c_str());
            std::printf("\nwrote %s/{results.jsonl,summary.md,summary.csv,summary.json}\n", so.out_dir.c_str());
            return 0;
          }};
}

}  // namespace mtk::apps::bench
