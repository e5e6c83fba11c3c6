#pragma once
// CodeBERT cosine, the paper's code-embedding similarity (../shared/DESIGN.md "Fidelity"):
// microsoft/codebert-base (RoBERTa, llm/encoder_text.hpp) with its byte-level BPE tokenizer; both
// snippets tokenized (<s> ... </s>, truncated at 512 tokens), padded into one batch and encoded
// together (pads masked out of attention), each embedding = mean of the last hidden state over the
// padded length (pads included: the paper's pooling), cosine as torch.cosine_similarity (eps 1e-8).
// Option: masked_mean averages over real tokens only (a correct mean, independent of the other
// snippet's length).
//
// Model directory (scripts/fetch_models.sh codebert -> models/codebert-base): config.json,
// vocab.json, merges.txt, model.safetensors. Without it the score is reported unavailable, never
// replaced by another number.
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mtk::metrics {

struct CodeBertOptions {
  bool masked_mean = false;  // false: the paper's mean over the padded length
  size_t max_length = 512;
  std::string device = "cpu";
};

struct CodeBertResult {
  bool available = false;
  double cosine = 0.0;  // valid when available
  std::string note;     // why unavailable
};

class CodeBertScorer {
 public:
  // Throws mtk::Error naming the missing file and `scripts/fetch_models.sh codebert`.
  static CodeBertScorer load(const std::string& dir, const CodeBertOptions& opts = {});
  // The scorer when `dir` holds the four files, else nullopt with the reason in *why.
  static std::optional<CodeBertScorer> try_load(const std::string& dir, const CodeBertOptions& opts = {},
                                                std::string* why = nullptr);
  // models/codebert-base under the project root.
  static std::string default_dir();

  CodeBertScorer(CodeBertScorer&&) noexcept;
  CodeBertScorer& operator=(CodeBertScorer&&) noexcept;
  ~CodeBertScorer();

  double cosine(std::string_view a, std::string_view b) const;
  // The same from token ids (special tokens included), for tests and tools.
  double cosine_ids(const std::vector<int32_t>& a, const std::vector<int32_t>& b) const;
  std::vector<int32_t> tokenize(std::string_view code) const;
  const CodeBertOptions& options() const;

 private:
  struct Impl;
  explicit CodeBertScorer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// available = false (with a note naming the fetch command) when scorer is null.
CodeBertResult codebert_cosine(const CodeBertScorer* scorer, std::string_view a, std::string_view b);

}  // namespace mtk::metrics
