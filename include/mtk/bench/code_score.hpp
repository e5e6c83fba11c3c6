#pragma once
// `manim-bench code-score`: the paper's code-level metrics of predictions against reference code:
// CodeBLEU and its four components (metrics/codebleu.hpp, the `codebleu` package's numbers), and
// CodeBERTBLEU = sqrt(CodeBLEU * CodeBERT cosine) once a CodeBERT cosine is available.
//
// The CodeBERT cosine comes through CodeCosineFn (reward/code.hpp, code_cosine_codebert(), which
// the program uses): without weights, CodeBERT and CBB are reported as unavailable, never replaced.
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "mtk/metrics/codebleu.hpp"
#include "mtk/reward/code.hpp"

namespace mtk::bench {

// The pair-level scores live in the reward module (GRPO's reward uses the same functions).
using reward::code_cosine_codebert;
using reward::code_score;
using reward::CodeCosineFn;
using reward::CodeScore;

// Text report of one pair (the two-file mode).
std::string code_score_text(const CodeScore& s);

struct CodeScoreOptions {
  std::string dataset = "samples";  // name ("samples", "manimbench") or JSONL path
  std::string split = "test";
  std::string predictions;          // JSONL of {id, code} or {id, completion}
  std::string out_dir = "runs/code-score";
  unsigned threads = 0;             // 0 = hardware
  size_t limit = 0;                 // first N tasks (0 = all)
  metrics::CodeBleuOptions codebleu;
};

struct CodeScoreSummary {
  size_t items = 0, with_code = 0, missing = 0;  // missing: no prediction for the task id
  double mean_codebleu = 0, mean_ngram = 0, mean_weighted = 0, mean_syntax = 0, mean_dataflow = 0;
  std::optional<double> mean_cbb;  // when every item has a cosine
  std::string unavailable_reason;
  metrics::CodeBleuResult corpus;  // the package's corpus-level calc_codebleu over the items
};

// Scores every task of the split that has a reference: per-item JSONL (results.jsonl) and
// summary.json in out_dir. A task without a prediction (or without extractable code) scores the
// empty hypothesis, as a failed generation would.
CodeScoreSummary run_code_score(const CodeScoreOptions& opts, const CodeCosineFn& cosine);
std::string code_score_summary_text(const CodeScoreSummary& s);

}  // namespace mtk::bench
