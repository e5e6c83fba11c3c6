#include "mtk/reward/code.hpp"

#include <memory>
#include <mutex>

#include "mtk/metrics/codebert.hpp"

namespace mtk::reward {

CodeCosineFn code_cosine_codebert(const std::string& dir_in) {
  const std::string dir = dir_in.empty() ? metrics::CodeBertScorer::default_dir() : dir_in;
  std::string why;
  auto scorer = metrics::CodeBertScorer::try_load(dir, {}, &why);
  if (!scorer) {
    return [why](const std::string&, const std::string&, std::string* out) -> std::optional<double> {
      if (out) *out = why;
      return std::nullopt;
    };
  }
  auto shared = std::make_shared<metrics::CodeBertScorer>(std::move(*scorer));
  auto mu = std::make_shared<std::mutex>();
  return [shared, mu](const std::string& a, const std::string& b, std::string*) -> std::optional<double> {
    std::lock_guard<std::mutex> lock(*mu);  // one encoder pass at a time (it uses every core itself)
    return shared->cosine(a, b);
  };
}

CodeScore code_score(const std::string& reference, const std::string& hypothesis, const CodeCosineFn& cosine,
                     const metrics::CodeBleuOptions& opt) {
  CodeScore s;
  s.codebleu = metrics::codebleu(reference, hypothesis, opt);
  if (cosine) s.codebert_cosine = cosine(reference, hypothesis, &s.unavailable_reason);
  else s.unavailable_reason = "no CodeBERT cosine source";
  if (s.codebert_cosine) s.cbb = metrics::code_bert_bleu(s.codebleu.codebleu, *s.codebert_cosine);
  return s;
}

}  // namespace mtk::reward
