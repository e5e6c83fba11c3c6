// RoBERTa vocab.json + merges.txt -> BpeTokenizer (encoder_tokenizer.hpp), through the tokenizer.json
// reader: the two files are the `model` part of a byte-level BPE tokenizer.json.
#include "mtk/encoders/encoder_tokenizer.hpp"

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "mtk/core/error.hpp"
#include "mtk/llm/tokenizer_json.hpp"

namespace mtk::encoders {

using llm::BpeVocab;
using llm::bpe_vocab_from_tokenizer_json;

std::unique_ptr<BpeTokenizer> load_roberta_tokenizer(const std::string& vocab_json, const std::string& merges_txt) {
  const std::string fix = "use the vocab.json and merges.txt of the model (scripts/fetch_models.sh codebert)";
  std::ifstream vin(vocab_json);
  if (!vin) throw Error("cannot read " + vocab_json, fix);
  nlohmann::json vocab;
  try {
    vocab = nlohmann::json::parse(vin);
  } catch (const std::exception& e) {
    throw Error("cannot parse " + vocab_json + ": " + e.what(), fix);
  }
  if (!vocab.is_object() || vocab.empty()) throw Error(vocab_json + " is not a token -> id object", fix);
  std::ifstream min(merges_txt);
  if (!min) throw Error("cannot read " + merges_txt, fix);
  nlohmann::json merges = nlohmann::json::array();
  std::string line;
  size_t lineno = 0;
  while (std::getline(min, line)) {
    ++lineno;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || (lineno == 1 && line.rfind("#version", 0) == 0)) continue;
    const size_t sp = line.find(' ');
    if (sp == std::string::npos || sp == 0 || sp + 1 >= line.size() || line.find(' ', sp + 1) != std::string::npos) {
      throw Error(merges_txt + " line " + std::to_string(lineno) + " is not \"left right\"", fix);
    }
    merges.push_back(line);
  }
  nlohmann::json added = nlohmann::json::array();
  for (const char* s : {"<s>", "<pad>", "</s>", "<unk>", "<mask>"}) {
    if (vocab.contains(s)) added.push_back({{"id", vocab[s]}, {"content", s}, {"special", true}});
  }
  const nlohmann::json tj = {
      {"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", merges}}},
      {"added_tokens", added},
      {"normalizer", nullptr},
      {"pre_tokenizer", {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", true}}},
      {"post_processor", nullptr},
  };
  BpeVocab v = bpe_vocab_from_tokenizer_json(tj, nullptr, vocab_json);
  if (vocab.contains("<s>")) v.bos = vocab["<s>"].get<int32_t>();
  if (vocab.contains("</s>")) v.eos = vocab["</s>"].get<int32_t>();
  v.add_bos = v.add_eos = false;  // roberta_encode adds them around the truncated text
  return std::make_unique<BpeTokenizer>(v);
}

std::vector<int32_t> roberta_encode(const Tokenizer& tok, std::string_view text, size_t max_length) {
  if (tok.bos() < 0 || tok.eos() < 0) throw Error("the tokenizer has no <s> / </s>", "use a RoBERTa vocab.json");
  if (max_length < 2) throw Error("max_length below 2", "pass at least 2 (for <s> and </s>)");
  std::vector<int32_t> ids = tok.encode(text, /*add_special=*/false, /*parse_special=*/true);
  if (ids.size() > max_length - 2) ids.resize(max_length - 2);
  ids.insert(ids.begin(), tok.bos());
  ids.push_back(tok.eos());
  return ids;
}

}  // namespace mtk::encoders
