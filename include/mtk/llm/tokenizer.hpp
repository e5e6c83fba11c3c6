#pragma once
// Tokenizers: text <-> token ids, built from the vocabulary stored in a GGUF file.
//
// The interface is shared by every vocabulary kind; load_tokenizer() picks the implementation from
// "tokenizer.ggml.model". Implemented: "gpt2" (byte-level BPE, tokenizer_bpe.hpp) and "llama"
// (SentencePiece, tokenizer_spm.hpp, which lists the keys it reads).
//
// GGUF keys read for "gpt2" (all under "tokenizer.ggml."):
//   model            "gpt2"
//   tokens           array of strings, the vocabulary in id order (byte-level BPE: in the GPT-2
//                    byte-to-unicode form, e.g. "Ġthe" for " the"; control/user-defined tokens as
//                    their plain text)
//   token_type       array of ints, TokenType per id (optional: all normal)
//   merges           array of strings "left right", by rank (first = merged first)
//   pre              pre-tokenizer name (optional: "default", the GPT-2 rule)
//   bos_token_id, eos_token_id       (optional)
//   add_bos_token, add_eos_token     bools (optional: false)
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace mtk::llm {

class GgufFile;

// Token types as stored in tokenizer.ggml.token_type (llama.cpp's numbering).
enum class TokenType : int32_t {
  Undefined = 0,
  Normal = 1,
  Unknown = 2,
  Control = 3,      // <|im_start|>, <|endoftext|>: special, skipped by decode(skip_special)
  UserDefined = 4,  // added tokens: matched in the text like control tokens, always decoded
  Unused = 5,
  Byte = 6,  // <0xAB> byte-fallback tokens (SentencePiece)
};

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;

  // Text (UTF-8; invalid UTF-8 is tolerated and round-trips) to token ids.
  // add_special: prepend BOS / append EOS as the model's add_bos_token / add_eos_token flags say.
  // parse_special: control and user-defined tokens written in the text (e.g. "<|im_start|>") become
  // their ids; when false they are tokenized as plain text.
  virtual std::vector<int32_t> encode(std::string_view text, bool add_special, bool parse_special) const = 0;
  // Token ids to text (the concatenated bytes of the tokens). skip_special drops control tokens.
  // An id outside [0, vocab_size()) throws mtk::Error.
  virtual std::string decode(const std::vector<int32_t>& ids, bool skip_special = false) const = 0;

  // The bytes one token stands for (control and user-defined tokens: their text), as decode()
  // writes them; throws mtk::Error for an id out of range.
  virtual std::string token_text(int32_t id) const = 0;
  // The id of the token whose text (as token_text gives it) is `text`, or -1.
  virtual int32_t token_id(std::string_view text) const = 0;

  virtual int32_t bos() const = 0;  // -1 when the model has none
  virtual int32_t eos() const = 0;  // -1 when the model has none
  virtual bool add_bos() const = 0;
  virtual bool add_eos() const = 0;
  virtual int32_t vocab_size() const = 0;
  virtual TokenType token_type(int32_t id) const = 0;  // Undefined for an id out of range
  // Control tokens (TokenType::Control; SentencePiece: also Unknown): the ones decode(skip_special=true)
  // drops.
  virtual bool is_special(int32_t id) const = 0;
  // "gpt2" or "llama" (the value of tokenizer.ggml.model).
  virtual std::string model() const = 0;
};

// Builds the tokenizer a GGUF file describes. Throws mtk::Error naming the problem and its fix for a
// file without a vocabulary, an unsupported tokenizer.ggml.model or an inconsistent vocabulary.
std::unique_ptr<Tokenizer> load_tokenizer(const GgufFile& file);

}  // namespace mtk::llm
