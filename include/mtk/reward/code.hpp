#pragma once
// The code side of a reward: the paper's code-level metrics of a completion's code against the
// reference code: CodeBLEU and its four components (metrics/codebleu.hpp, the `codebleu`
// package's numbers), and CodeBERTBLEU = sqrt(CodeBLEU * CodeBERT cosine) once a CodeBERT cosine
// is available. `manim-bench code-score` and GRPO's reward use the same functions.
//
// The CodeBERT cosine comes through CodeCosineFn (code_cosine_codebert()): without weights,
// CodeBERT and CBB are reported as unavailable, never replaced.
#include <functional>
#include <optional>
#include <string>

#include "mtk/metrics/codebleu.hpp"

namespace mtk::reward {

// Cosine between the CodeBERT embeddings of two snippets, or nullopt with *why set when unavailable.
using CodeCosineFn =
    std::function<std::optional<double>(const std::string& reference, const std::string& hypothesis, std::string* why)>;

// The CodeBERT cosine (the paper's padded-mean pooling) from microsoft/codebert-base in `dir`
// ("" = models/codebert-base, fetched by scripts/fetch_models.sh codebert); without the weights
// every call reports them unavailable with the fix, and CBB is not computed. Thread-safe.
CodeCosineFn code_cosine_codebert(const std::string& dir = {});

struct CodeScore {
  metrics::CodeBleuResult codebleu;
  std::optional<double> codebert_cosine;  // nullopt: unavailable
  std::optional<double> cbb;              // CodeBERTBLEU, nullopt when the cosine is unavailable
  std::string unavailable_reason;         // why CodeBERT/CBB are missing
};

CodeScore code_score(const std::string& reference, const std::string& hypothesis, const CodeCosineFn& cosine,
                     const metrics::CodeBleuOptions& opt = {});

}  // namespace mtk::reward
