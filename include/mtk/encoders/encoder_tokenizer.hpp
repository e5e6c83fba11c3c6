#pragma once
// RoBERTa's tokenizer files (vocab.json + merges.txt, what microsoft/codebert-base ships) read into
// the project's byte-level BPE tokenizer (tokenizer_bpe.hpp): GPT-2 pre-tokenizer, no prefix space,
// special tokens <s> <pad> </s> <unk> <mask> (control tokens where vocab.json has them).
//
//   vocab.json   {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3, ".": 4, "Ġthe": 5, ...}
//   merges.txt   "#version: 0.2" then one merge "left right" per line, by rank
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "mtk/llm/tokenizer_bpe.hpp"

namespace mtk::encoders {

using llm::BpeTokenizer;
using llm::Tokenizer;

// Throws mtk::Error naming the file and the fix when a file is missing or malformed.
std::unique_ptr<BpeTokenizer> load_roberta_tokenizer(const std::string& vocab_json, const std::string& merges_txt);

// transformers' RobertaTokenizer(text, truncation=True, max_length=max_length): <s>, the text's
// tokens cut to max_length - 2, </s>. Special tokens written in the text are recognised.
std::vector<int32_t> roberta_encode(const Tokenizer& tok, std::string_view text, size_t max_length = 512);

}  // namespace mtk::encoders
