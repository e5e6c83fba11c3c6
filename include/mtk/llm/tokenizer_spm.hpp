#pragma once
// SentencePiece vocabularies (GGUF tokenizer.ggml.model == "llama": Gemma, Llama 2, Mistral, ...),
// tokenized exactly as llama.cpp tokenizes them (its "SPM" path).
//
// Token types are the stored ones, except that tokens whose text llama.cpp recognises as an
// end-of-generation, end-of-turn or fill-in-the-middle marker ("</s>", "<end_of_turn>", "<|im_end|>",
// "<fim_prefix>", ...) are Control, as llama.cpp makes them (Gemma 3 stores "</s>" as user-defined).
//
// Encoding:
//   1. Special tokens are cut out of the text: every token of type Control, UserDefined or Unknown,
//      longest first (equal lengths by id), each one split out of all remaining text fragments at
//      every (leftmost, non-overlapping) occurrence. Without parse_special only UserDefined tokens
//      are cut out (Gemma's runs of 1-31 newlines or tabs and of 2-31 spaces, "<b>", "<s>", ... are
//      user-defined, so they become their ids in both modes).
//   2. Each remaining fragment: with add_space_prefix, a ' ' is prepended when the fragment is the
//      first one or follows a special token; then every ' ' becomes "▁" (U+2581). Nothing else is
//      normalized.
//   3. The fragment is cut into characters by the UTF-8 lead byte (a continuation or invalid byte is
//      a character of its own; a lead byte takes its continuation bytes whatever they are).
//   4. BPE by scores: adjacent symbols whose concatenation is a vocabulary entry (of any type) are
//      merged, the entry with the highest score first, the leftmost on ties, until no pair merges.
//   5. Each symbol is then its token; a character without one becomes its byte tokens ("<0xAB>",
//      else the one-byte token with that text, else the unknown token, else it is dropped).
//   6. add_special: BOS first (add_bos_token), EOS last (add_eos_token).
//
// Decoding (llama.cpp's token_to_piece): Normal tokens with "▁" turned into ' '; Byte tokens
// <0xAB> as the byte; UserDefined, Control and Unknown tokens as their text (Control and Unknown
// dropped with skip_special); Unused/Undefined tokens as nothing. With add_space_prefix one
// leading ' ' of the first token is removed (as llama.cpp's detokenize does).
//
// Why not the sentencepiece library: Debian's libsentencepiece.so.0 carries its own protobuf-lite
// 3.14; with libprotobuf.so.32 loaded first (needed by libtorch, see DESIGN.md) its model-proto code
// binds to protobuf 3.21 and aborts with "compiled against version 3.14.0 ... not compatible" as
// soon as a model is loaded. Steps 3-5 are sentencepiece's BPE encoding (same scores, same
// tie-break), except that, as in llama.cpp, a merge may form an entry of any type and malformed
// UTF-8 is not replaced by U+FFFD; ids match llama.cpp's (tests/llm/test_tokenizer_spm.cpp).
//
// GGUF keys read (under "tokenizer.ggml."): model "llama", tokens, scores (optional: 0),
// token_type (optional: Normal), bos/eos/unknown_token_id (optional), add_bos_token (optional:
// true), add_eos_token (optional: false), add_space_prefix (optional: true, as llama.cpp).
#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "mtk/llm/tokenizer.hpp"

namespace mtk::llm {

// What a SentencePiece tokenizer is built from (load_tokenizer fills it from the GGUF keys).
struct SpmVocab {
  std::vector<std::string> tokens;  // as stored: "▁" for spaces, "<0x0A>" for byte tokens
  std::vector<float> scores;        // empty = all 0
  std::vector<int32_t> types;       // TokenType per token; empty = all Normal
  int32_t bos = -1, eos = -1, unk = -1;
  bool add_bos = true, add_eos = false;
  bool add_space_prefix = true;
};

class SpmTokenizer final : public Tokenizer {
 public:
  // Throws mtk::Error for an empty vocabulary, mismatched token/score/type counts, duplicate
  // tokens or bos/eos/unk out of range. Empty tokens are renamed
  // "[EMPTY_<id>]" as llama.cpp does.
  explicit SpmTokenizer(const SpmVocab& vocab);
  ~SpmTokenizer() override;

  std::vector<int32_t> encode(std::string_view text, bool add_special, bool parse_special) const override;
  std::string decode(const std::vector<int32_t>& ids, bool skip_special = false) const override;
  std::string token_text(int32_t id) const override;
  int32_t token_id(std::string_view text) const override;
  int32_t bos() const override { return bos_; }
  int32_t eos() const override { return eos_; }
  bool add_bos() const override { return add_bos_; }
  bool add_eos() const override { return add_eos_; }
  int32_t vocab_size() const override { return static_cast<int32_t>(tokens_.size()); }
  TokenType token_type(int32_t id) const override;
  // Control and Unknown tokens (the ones decode(skip_special=true) drops).
  bool is_special(int32_t id) const override;
  std::string model() const override { return "llama"; }

  // Parts of encode(), exposed for tests and tools.
  struct Fragment {
    std::string_view text;  // the raw text (for a special token: its text)
    int32_t special = -1;   // the token id when the fragment is a special token
  };
  // Step 1.
  std::vector<Fragment> split_special(std::string_view text, bool parse_special) const;
  // Steps 3-5 for one fragment already prefixed and escaped (step 2), appended to out.
  void tokenize_fragment(std::string_view escaped, std::vector<int32_t>& out) const;
  // The vocabulary entry (as stored, e.g. "▁the") of an id; throws mtk::Error when out of range.
  const std::string& piece(int32_t id) const;
  int32_t unk() const { return unk_; }
  bool add_space_prefix() const { return add_space_prefix_; }

 private:
  struct Trie;
  void append_bytes(std::string_view bytes, std::vector<int32_t>& out) const;
  void check_id(int32_t id) const;

  std::vector<std::string> tokens_;  // as stored (empty ones renamed)
  std::vector<TokenType> types_;
  std::unordered_map<std::string, int32_t> by_text_;  // stored text -> id
  std::array<int32_t, 256> byte_token_{};             // token for each byte, -1 when none
  std::vector<int32_t> specials_;                     // Control/UserDefined/Unknown, longest first
  std::unique_ptr<Trie> tries_[2];                    // specials cut out without / with parse_special
  std::vector<float> scores_;
  int32_t bos_ = -1, eos_ = -1, unk_ = -1;
  bool add_bos_ = true, add_eos_ = false, add_space_prefix_ = true;
};

}  // namespace mtk::llm
