// manim-bench: score predictions against ManimBench references; manage the render cache.
#include <CLI/CLI.hpp>
#include <cstdio>

#include "mtk/bench/code_score.hpp"
#include "mtk/bench/score.hpp"
#include "mtk/build_info.hpp"
#include "mtk/core/app.hpp"
#include "mtk/core/error.hpp"
#include "mtk/core/fs.hpp"
#include "mtk/core/log.hpp"
#include "mtk/core/progress.hpp"
#include "mtk/render/cache.hpp"

int main(int argc, char** argv) {
  return mtk::run_app("manim-bench", [&] {
    CLI::App app{"manim-bench: render and score Manim code against ManimBench references"};
    app.set_version_flag("--version", std::string("manim-bench ") + mtk::build::kVersion);
    app.require_subcommand(1);
    std::string log_level = "info";
    app.add_option("--log-level", log_level, "trace, debug, info, warn, error or off")->capture_default_str();

    mtk::bench::ScoreOptions so;
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

    mtk::bench::CodeScoreOptions cso;
    std::vector<std::string> code_files;
    std::string codebert_dir;
    auto* code_score = app.add_subcommand(
        "code-score", "CodeBLEU (4 components; the codebleu package's numbers) and CodeBERTBLEU of code: "
                      "two files (A.py reference, B.py prediction), or --predictions over a dataset");
    code_score->add_option("files", code_files, "REFERENCE.py PREDICTION.py")->expected(0, 2);
    code_score->add_option("--predictions", cso.predictions, "JSONL of {id, code} or {id, completion}");
    code_score->add_option("--dataset", cso.dataset, "dataset name (samples, manimbench) or JSONL path")->capture_default_str();
    code_score->add_option("--split", cso.split, "train, test or all")->capture_default_str();
    code_score->add_option("--out", cso.out_dir, "output folder: results.jsonl, summary.json")->capture_default_str();
    code_score->add_option("--limit", cso.limit, "score only the first N tasks (0 = all)")->capture_default_str();
    code_score->add_option("--threads", cso.threads, "threads (0 = number of cores)")->capture_default_str();
    code_score->add_option("--codebert", codebert_dir, "microsoft/codebert-base directory for the CodeBERT cosine "
                                                      "and CBB (default models/codebert-base)");
    code_score->add_flag("!--zero-dataflow-as-zero", cso.codebleu.zero_dataflow_as_one,
                         "keep a zero data-flow score in CodeBLEU (the package counts it as 1)");

    auto* cache = app.add_subcommand("cache", "Inspect or clear the render cache");
    cache->require_subcommand(1);
    auto* stats = cache->add_subcommand("stats", "entries, size and location of the render cache");
    auto* clear = cache->add_subcommand("clear", "delete every cached render");

    CLI11_PARSE(app, argc, argv);
    mtk::init_logging(log_level);

    if (*score) {
      auto s = mtk::bench::run_score(so);
      std::printf("%s", mtk::bench::summary_markdown(s, so).c_str());
      std::printf("\nwrote %s/{results.jsonl,summary.md,summary.csv,summary.json}\n", so.out_dir.c_str());
      return 0;
    }
    if (*code_score) {
      const auto cosine = mtk::bench::code_cosine_codebert(codebert_dir);
      if (!code_files.empty()) {
        if (code_files.size() != 2 || !cso.predictions.empty())
          throw mtk::Error("code-score takes two files, or --predictions", "manim-bench code-score A.py B.py");
        const auto s = mtk::bench::code_score(mtk::fs::read_file(code_files[0]), mtk::fs::read_file(code_files[1]),
                                              cosine, cso.codebleu);
        std::printf("%s", mtk::bench::code_score_text(s).c_str());
        return 0;
      }
      const auto s = mtk::bench::run_code_score(cso, cosine);
      std::printf("%s", mtk::bench::code_score_summary_text(s).c_str());
      std::printf("\nwrote %s/{results.jsonl,summary.json}\n", cso.out_dir.c_str());
      return 0;
    }
    mtk::render::RenderCache rc;
    if (*stats) {
      auto st = rc.stats();
      std::printf("render cache: %s\nentries: %llu (%llu successes, %llu failures)\nsize: %.1f MiB\n",
                  rc.dir().c_str(), (unsigned long long)st.entries, (unsigned long long)st.successes,
                  (unsigned long long)st.failures, st.bytes / 1048576.0);
    } else if (*clear) {
      auto n = rc.stats().entries;
      rc.clear();
      std::printf("removed %llu cached renders from %s\n", (unsigned long long)n, rc.dir().c_str());
    }
    return 0;
  });
}
