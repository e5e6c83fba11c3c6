// manim-bench code-score: CodeBLEU (and CBB with CodeBERT) of two files or of a predictions file.
#include <cstdio>
#include <memory>

#include "mtk/bench/code_score.hpp"
#include "mtk/core/error.hpp"
#include "mtk/core/fs.hpp"
#include "subcommands.hpp"

namespace mtk::apps::bench {

namespace {

struct CodeScoreArgs {
  mtk::bench::CodeScoreOptions cso;
  std::vector<std::string> files;
  std::string codebert_dir;
};

int code_score(const CodeScoreArgs& a) {
  const auto cosine = mtk::bench::code_cosine_codebert(a.codebert_dir);
  if (!a.files.empty()) {
    if (a.files.size() != 2 || !a.cso.predictions.empty())
      throw Error("code-score takes two files, or --predictions", "manim-bench code-score A.py B.py");
    const auto s = mtk::bench::code_score(fs::read_file(a.files[0]), fs::read_file(a.files[1]), cosine, a.cso.codebleu);
    std::printf("%s", mtk::bench::code_score_text(s).c_str());
    return 0;
  }
  const auto s = mtk::bench::run_code_score(a.cso, cosine);
  std::printf("%s", mtk::bench::code_score_summary_text(s).c_str());
  std::printf("\nwrote %s/{results.jsonl,summary.json}\n", a.cso.out_dir.c_str());
  return 0;
}

}  // namespace

Subcommand add_code_score(CLI::App& app) {
  auto a = std::make_shared<CodeScoreArgs>();
  auto& cso = a->cso;
  auto* cmd = app.add_subcommand(
      "code-score", "CodeBLEU (4 components; the codebleu package's numbers) and CodeBERTBLEU of code: "
                    "two files (A.py reference, B.py prediction), or --predictions over a dataset");
  cmd->add_option("files", a->files, "REFERENCE.py PREDICTION.py")->expected(0, 2);
  cmd->add_option("--predictions", cso.predictions, "JSONL of {id, code} or {id, completion}");
  cmd->add_option("--dataset", cso.dataset, "dataset name (samples, manimbench) or JSONL path")->capture_default_str();
  cmd->add_option("--split", cso.split, "train, test or all")->capture_default_str();
  cmd->add_option("--out", cso.out_dir, "output folder: results.jsonl, summary.json")->capture_default_str();
  cmd->add_option("--limit", cso.limit, "score only the first N tasks (0 = all)")->capture_default_str();
  cmd->add_option("--threads", cso.threads, "threads (0 = number of cores)")->capture_default_str();
  cmd->add_option("--codebert", a->codebert_dir, "microsoft/codebert-base directory for the CodeBERT cosine "
                                                 "and CBB (default models/codebert-base)");
  cmd->add_flag("!--zero-dataflow-as-zero", cso.codebleu.zero_dataflow_as_one,
                "keep a zero data-flow score in CodeBLEU (the package counts it as 1)");
  return {cmd, [a] { return code_score(*a); }};
}

}  // namespace mtk::apps::bench
