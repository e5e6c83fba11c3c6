#pragma once
// Tokenizers from a Hugging Face tokenizer.json (the `tokenizers` library's serialization).
//
// Supported: byte-level BPE, the vocabulary kind of GPT-2, SmolLM, Llama 3 and Qwen2:
//   model           {"type": "BPE", "vocab": {token: id}, "merges": ["a b", ...] or [["a", "b"], ...],
//                    "ignore_merges": bool, "byte_fallback": false, no subword prefix/suffix}
//   added_tokens    [{"id", "content", "special", ...}]: special -> TokenType::Control, else
//                   UserDefined; placed at their ids (the vocabulary grows to hold them; ids that
//                   neither names are filled with unused "<|unused_N|>" placeholders)
//   normalizer      null (NFC is accepted with a warning for Qwen2: it is not applied)
//   pre_tokenizer   mapped onto the named rules of tokenizer_pretokenize.hpp:
//                     ByteLevel(use_regex=true)                                   -> gpt2
//                     Sequence[Digits(individual_digits=true), ByteLevel(use_regex)] -> smollm
//                     Sequence[Split(Regex R, Isolated), ByteLevel(use_regex=false)] -> the rule
//                       whose regex is R (llama3, qwen2)
//                   anything else is refused, naming it.
//   post_processor  TemplateProcessing (alone or in a Sequence): a special token before $A means
//                   add_bos (and gives the BOS id), one after $A add_eos. ByteLevel: nothing.
// tokenizer_config.json (optional) overrides: bos_token / eos_token (a string or {"content": ...})
// and add_bos_token / add_eos_token.
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <string>

#include "mtk/llm/tokenizer.hpp"
#include "mtk/llm/tokenizer_bpe.hpp"

namespace mtk::llm {

// Reads tokenizer.json at `tokenizer_json_path` (and the parsed tokenizer_config.json, when given).
// Throws mtk::Error naming the file, the unsupported or malformed part and the fix.
std::unique_ptr<Tokenizer> load_tokenizer_json(const std::string& tokenizer_json_path,
                                               const nlohmann::json* tokenizer_config = nullptr);
// The same from parsed JSON; `label` names the source in errors.
std::unique_ptr<Tokenizer> load_tokenizer_json(const nlohmann::json& tokenizer, const nlohmann::json* tokenizer_config,
                                               const std::string& label);
// The BpeVocab the JSON describes (what the loaders build the tokenizer from).
BpeVocab bpe_vocab_from_tokenizer_json(const nlohmann::json& tokenizer, const nlohmann::json* tokenizer_config,
                                       const std::string& label);

}  // namespace mtk::llm
