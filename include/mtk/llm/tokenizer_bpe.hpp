#pragma once
// Byte-level BPE (GGUF tokenizer.ggml.model == "gpt2": GPT-2, SmolLM, Llama 3, Qwen2, ...).
//
// Encoding, per the Hugging Face `tokenizers` model that these vocabularies come from:
//   1. parse_special: control and user-defined tokens are cut out of the text first (at each
//      position the longest such token that starts there, scanning left to right).
//   2. every other fragment is cut into pieces by the pre-tokenizer (tokenizer_pretokenize.hpp).
//   3. each piece's bytes start as single-byte tokens; then, repeatedly, the adjacent pair with the
//      lowest merge rank (leftmost on ties) is merged into the token their concatenation names,
//      until no adjacent pair has a merge. Results are cached per piece.
// The vocabulary is stored in the GPT-2 byte-to-unicode form: the 188 printable bytes
// ('!'..'~', '¡'..'¬', '®'..'ÿ') stand for themselves, the other 68 (controls, space, 0x7F-0xA0,
// 0xAD) for U+0100 + their index among them, so " the" is stored as "Ġthe" (Ġ = U+0120 = 0x20).
// This class works on raw bytes internally: tokens are translated once when it is built.
#include <array>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "mtk/llm/tokenizer.hpp"
#include "mtk/llm/tokenizer_pretokenize.hpp"

namespace mtk::llm {

// The GPT-2 byte-to-unicode table: code point for each byte value.
const std::array<uint32_t, 256>& gpt2_byte_to_codepoint();
// Raw bytes to their byte-level form (UTF-8 of the mapped code points).
std::string gpt2_bytes_to_unicode(std::string_view bytes);
// The inverse: false (out unspecified) when `text` is not valid UTF-8 or holds a code point
// outside the table.
bool gpt2_unicode_to_bytes(std::string_view text, std::string& out);

// What a byte-level BPE tokenizer is built from (load_tokenizer fills it from the GGUF keys).
struct BpeVocab {
  std::vector<std::string> tokens;  // byte-level form; control/user-defined tokens as plain text
  std::vector<int32_t> types;       // TokenType per token; empty = all Normal
  std::vector<std::string> merges;  // "left right" in byte-level form, by rank
  std::string pre = "default";      // tokenizer.ggml.pre
  int32_t bos = -1, eos = -1;
  bool add_bos = false, add_eos = false;
};

class BpeTokenizer final : public Tokenizer {
 public:
  // Throws mtk::Error for an empty vocabulary, mismatched token/type counts or bos/eos out of range.
  // Merges naming tokens not in the vocabulary are skipped (counted in skipped_merges()).
  explicit BpeTokenizer(const BpeVocab& vocab);

  std::vector<int32_t> encode(std::string_view text, bool add_special, bool parse_special) const override;
  std::string decode(const std::vector<int32_t>& ids, bool skip_special = false) const override;
  std::string token_text(int32_t id) const override;
  int32_t token_id(std::string_view text) const override;
  int32_t bos() const override { return bos_; }
  int32_t eos() const override { return eos_; }
  bool add_bos() const override { return add_bos_; }
  bool add_eos() const override { return add_eos_; }
  int32_t vocab_size() const override { return static_cast<int32_t>(pieces_.size()); }
  TokenType token_type(int32_t id) const override;
  bool is_special(int32_t id) const override { return token_type(id) == TokenType::Control; }
  std::string model() const override { return "gpt2"; }

  // Parts of encode(), exposed for tests and tools.
  struct Fragment {
    std::string_view text;  // the fragment (for a special token: its text)
    int32_t special = -1;   // the token id when the fragment is a control/user-defined token
  };
  // Step 1: cuts out control and user-defined tokens.
  std::vector<Fragment> split_special(std::string_view text) const;
  // Step 3 for one piece (raw bytes), appended to out.
  void bpe(std::string_view piece, std::vector<int32_t>& out) const;
  const PreTokenizer& pre_tokenizer() const { return pre_; }
  const std::string& pre_rule() const { return pre_name_; }
  size_t skipped_merges() const { return skipped_merges_; }
  size_t n_merges() const { return merges_.size(); }

 private:
  void bpe_uncached(std::string_view piece, std::vector<int32_t>& out) const;

  std::vector<std::string> pieces_;  // raw bytes per id
  std::vector<TokenType> types_;
  std::unordered_map<std::string, int32_t> by_bytes_;  // raw bytes -> id (first id wins)
  std::array<int32_t, 256> byte_token_{};              // single-byte tokens, -1 when absent
  // (left id << 32 | right id) -> (rank, merged id)
  std::unordered_map<uint64_t, std::pair<int32_t, int32_t>> merges_;
  // Control/user-defined tokens by first byte, longest first.
  std::array<std::vector<int32_t>, 256> specials_by_first_;
  PreTokenizer pre_;
  std::string pre_name_;
  bool ignore_merges_ = false;
  int32_t bos_ = -1, eos_ = -1;
  bool add_bos_ = false, add_eos_ = false;
  size_t skipped_merges_ = 0;

  // Cache: piece bytes -> ids.
  mutable std::mutex cache_mutex_;
  mutable std::unordered_map<std::string, std::vector<int32_t>> cache_;
};

}  // namespace mtk::llm
