#pragma once
// Pre-tokenizers for byte-level BPE: the text is cut into pieces by a sequence of regexes (PCRE2,
// UTF + Unicode properties, JIT-compiled when available) before BPE runs on each piece.
//
// Each regex is applied to every piece the previous one produced, as its own subject (so
// look-aheads stop at the piece's end), and splits it "isolated": every match is a piece and so is
// every unmatched run between matches. Nothing is dropped: the pieces concatenate to the input.
//
// Rules by tokenizer.ggml.pre (the models' tokenizer.json pre_tokenizer, as llama.cpp names them):
//   default, gpt2 (and unknown names, with a warning): the GPT-2 regex of HF's ByteLevel
//       's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
//   smollm, starcoder, refact, codeshell, command-r: Digits(individual_digits=true) then ByteLevel,
//       i.e. \p{N} (every digit its own piece) then the GPT-2 regex
//   llama3, llama-bpe, llama-v3: Split on
//       (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*
//       |\s*[\r\n]+|\s+(?!\S)|\s+          (BPE with ignore_merges)
//   qwen2: as llama3 with \p{N} instead of \p{N}{1,3} (Qwen2's NFC normalizer is not applied)
//
// A PreTokenizer is immutable after construction and may be used from several threads at once.
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace mtk::llm {

struct PreTokenizerRule {
  std::string name;                  // the rule's canonical name ("gpt2", "smollm", ...)
  std::vector<std::string> regexes;  // applied in sequence
  bool ignore_merges = false;        // BPE: a piece that is a whole vocabulary token is kept as is
};

// The rule for a tokenizer.ggml.pre value; *known (when given) says whether the name was
// recognised (an unknown name gives the GPT-2 default).
PreTokenizerRule pre_tokenizer_rule(std::string_view pre, bool* known = nullptr);

class PreTokenizer {
 public:
  // Compiles the regexes (throws mtk::Error with PCRE2's message and offset for a bad one).
  explicit PreTokenizer(const std::vector<std::string>& regexes);
  ~PreTokenizer();
  PreTokenizer(PreTokenizer&&) noexcept;
  PreTokenizer& operator=(PreTokenizer&&) noexcept;

  // Appends the pieces of `text` to `out` (views into `text`).
  void split(std::string_view text, std::vector<std::string_view>& out) const;
  std::vector<std::string_view> split(std::string_view text) const;
  bool jit() const;  // whether every regex was JIT-compiled

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace mtk::llm
