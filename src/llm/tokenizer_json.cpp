// Byte-level BPE tokenizers from Hugging Face tokenizer.json files (see tokenizer_json.hpp).
#include "mtk/llm/tokenizer_json.hpp"

#include <spdlog/spdlog.h>

#include <functional>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <unordered_map>

#include "mtk/core/error.hpp"
#include "mtk/core/fs.hpp"

namespace mtk::llm {

namespace {

using json = nlohmann::json;

constexpr const char* kUnsupportedFix =
    "use the model's GGUF file instead (llama.cpp convert_hf_to_gguf.py), or a model with a byte-level BPE "
    "tokenizer (GPT-2, SmolLM, Llama 3, Qwen2)";
constexpr const char* kMalformedFix = "re-download tokenizer.json (it is damaged or was edited by hand)";
// Ids beyond this are refused (the largest real vocabularies have about 260k tokens).
constexpr uint64_t kMaxTokenId = 1u << 24;

// A non-negative integer (JSON read from text holds these as unsigned, JSON built in code may not).
bool is_index(const json& j) { return j.is_number_unsigned() || (j.is_number_integer() && j.get<int64_t>() >= 0); }

std::string brief(const json& j) {
  std::string s = j.dump(-1, ' ', false, json::error_handler_t::replace);
  if (s.size() > 160) s = s.substr(0, 160) + "...";
  return s;
}

class Reader {
 public:
  explicit Reader(const std::string& label) : label_(label) {}

  [[noreturn]] void malformed(const std::string& what) const { throw Error(label_ + ": " + what, kMalformedFix); }
  [[noreturn]] void unsupported(const std::string& what) const { throw Error(label_ + ": " + what, kUnsupportedFix); }

  // The string member `key` of `obj`, or `dflt` when absent or null.
  std::string str(const json& obj, const char* key, const std::string& dflt, const char* where) const {
    if (!obj.contains(key) || obj[key].is_null()) return dflt;
    if (!obj[key].is_string()) malformed(std::string(where) + "." + key + " is not a string but " + brief(obj[key]));
    return obj[key].get<std::string>();
  }
  bool flag(const json& obj, const char* key, bool dflt, const char* where) const {
    if (!obj.contains(key) || obj[key].is_null()) return dflt;
    if (!obj[key].is_boolean()) malformed(std::string(where) + "." + key + " is not a boolean but " + brief(obj[key]));
    return obj[key].get<bool>();
  }

  // The regex list a pre_tokenizer stands for (appended to `out`).
  void pre_regexes(const json& p, std::vector<std::string>& out, int depth = 0) const {
    if (!p.is_object() || !p.contains("type") || !p["type"].is_string())
      malformed("pre_tokenizer " + brief(p) + " has no \"type\"");
    const std::string type = p["type"].get<std::string>();
    if (type == "Sequence" && depth == 0) {
      if (!p.contains("pretokenizers") || !p["pretokenizers"].is_array())
        malformed("pre_tokenizer Sequence without a \"pretokenizers\" array");
      for (const json& q : p["pretokenizers"]) pre_regexes(q, out, depth + 1);
      return;
    }
    if (type == "ByteLevel") {
      if (flag(p, "add_prefix_space", false, "pre_tokenizer.ByteLevel"))
        unsupported("the ByteLevel pre-tokenizer with add_prefix_space=true is not supported");
      byte_level_ = true;
      if (flag(p, "use_regex", true, "pre_tokenizer.ByteLevel"))
        out.push_back(pre_tokenizer_rule("gpt2").regexes.at(0));
      return;
    }
    if (type == "Digits") {
      if (!flag(p, "individual_digits", false, "pre_tokenizer.Digits"))
        unsupported("the Digits pre-tokenizer with individual_digits=false is not supported");
      out.push_back(pre_tokenizer_rule("smollm").regexes.at(0));
      return;
    }
    if (type == "Split") {
      const json& pat = p.contains("pattern") ? p["pattern"] : json();
      if (!pat.is_object() || !pat.contains("Regex") || !pat["Regex"].is_string())
        unsupported("the Split pre-tokenizer with pattern " + brief(pat) + " is not supported (only {\"Regex\": ...})");
      const std::string behavior = str(p, "behavior", "", "pre_tokenizer.Split");
      if (behavior != "Isolated")
        unsupported("the Split pre-tokenizer with behavior \"" + behavior + "\" is not supported (only Isolated)");
      if (flag(p, "invert", false, "pre_tokenizer.Split"))
        unsupported("the Split pre-tokenizer with invert=true is not supported");
      out.push_back(pat["Regex"].get<std::string>());
      return;
    }
    unsupported("the pre-tokenizer " + brief(p) + " is not supported");
  }

  mutable bool byte_level_ = false;

 private:
  std::string label_;
};

// The rule whose regexes are exactly `rx`; "" when none is.
std::string rule_for(const std::vector<std::string>& rx) {
  for (const char* name : {"gpt2", "smollm", "llama3", "qwen2"})
    if (pre_tokenizer_rule(name).regexes == rx) return name;
  return "";
}

// The content of a bos_token / eos_token entry of tokenizer_config.json: a string, or an object
// with "content" (AddedToken's serialization); nullopt for null or absent.
std::optional<std::string> config_token(const json& cfg, const char* key, const Reader& r) {
  if (!cfg.is_object() || !cfg.contains(key) || cfg[key].is_null()) return std::nullopt;
  const json& v = cfg[key];
  if (v.is_string()) return v.get<std::string>();
  if (v.is_object() && v.contains("content") && v["content"].is_string()) return v["content"].get<std::string>();
  r.malformed(std::string(key) + " is neither a string nor {\"content\": ...} but " + brief(v));
}

}  // namespace

namespace {

// The "model" object, checked to be byte-level BPE as this reader supports it.
const json& bpe_model(const Reader& r, const json& tj) {
  if (!tj.is_object()) r.malformed("not a JSON object");
  if (!tj.contains("model") || !tj["model"].is_object()) r.malformed("no \"model\" object");
  const json& model = tj["model"];
  std::string type = r.str(model, "type", "", "model");
  if (type.empty()) type = model.contains("merges") ? "BPE" : "?";
  if (type != "BPE")
    r.unsupported("the tokenizer model type \"" + type +
                  "\" is not supported (Unigram, WordPiece and WordLevel "
                  "vocabularies are not read; only byte-level BPE)");
  if (r.flag(model, "byte_fallback", false, "model"))
    r.unsupported("a BPE model with byte_fallback (SentencePiece-style BPE, e.g. Llama 2 / Mistral) is not supported");
  if (!r.str(model, "continuing_subword_prefix", "", "model").empty() ||
      !r.str(model, "end_of_word_suffix", "", "model").empty())
    r.unsupported("a BPE model with continuing_subword_prefix / end_of_word_suffix is not supported");
  if (model.contains("dropout") && !model["dropout"].is_null()) {
    if (!model["dropout"].is_number()) r.malformed("model.dropout is not a number");
    if (model["dropout"].get<double>() > 0.0) r.unsupported("BPE dropout is not supported");
  }
  if (!model.contains("vocab") || !model["vocab"].is_object()) r.malformed("model.vocab is not an object {token: id}");
  if (!model.contains("merges") || !model["merges"].is_array()) r.malformed("model.merges is not an array");
  return model;
}

// The vocabulary by id (model.vocab, then the added tokens over it, unused placeholders in the
// holes); added_ids maps each added token's content to its id.
void read_vocab(const Reader& r, const json& tj, const json& vocab, const std::string& label, BpeVocab& v,
                std::unordered_map<std::string, int32_t>& added_ids) {
  uint64_t n = 0;
  auto check_id = [&](const json& id, const std::string& what) -> uint64_t {
    if (!is_index(id)) r.malformed(what + " has the id " + brief(id) + ", not a non-negative integer");
    const uint64_t x = id.get<uint64_t>();
    if (x >= kMaxTokenId) r.malformed(what + " has the id " + std::to_string(x) + ", over the limit of 2^24");
    return x;
  };
  for (auto it = vocab.begin(); it != vocab.end(); ++it)
    n = std::max(n, check_id(it.value(), "token \"" + it.key() + "\"") + 1);
  const json added = tj.contains("added_tokens") && !tj["added_tokens"].is_null() ? tj["added_tokens"] : json::array();
  if (!added.is_array()) r.malformed("added_tokens is not an array");
  for (const json& a : added) {
    if (!a.is_object() || !a.contains("id") || !a.contains("content") || !a["content"].is_string())
      r.malformed("added token " + brief(a) + " lacks \"id\" or \"content\"");
    n = std::max(n, check_id(a["id"], "added token \"" + a["content"].get<std::string>() + "\"") + 1);
  }
  if (n == 0) r.malformed("the vocabulary is empty");

  v.tokens.assign(static_cast<size_t>(n), std::string());
  v.types.assign(static_cast<size_t>(n), -1);
  for (auto it = vocab.begin(); it != vocab.end(); ++it) {
    const size_t id = static_cast<size_t>(it.value().get<uint64_t>());
    if (v.types[id] != -1)
      r.malformed("the tokens \"" + v.tokens[id] + "\" and \"" + it.key() + "\" share the id " + std::to_string(id));
    v.tokens[id] = it.key();
    v.types[id] = static_cast<int32_t>(TokenType::Normal);
  }
  bool warned_strip = false;
  for (const json& a : added) {
    const size_t id = static_cast<size_t>(a["id"].get<uint64_t>());
    const std::string content = a["content"].get<std::string>();
    if (content.empty()) r.malformed("added token " + std::to_string(id) + " is empty");
    const bool special = r.flag(a, "special", false, "added_tokens[]");
    if (!warned_strip &&
        (r.flag(a, "lstrip", false, "added_tokens[]") || r.flag(a, "rstrip", false, "added_tokens[]") ||
         r.flag(a, "single_word", false, "added_tokens[]"))) {
      spdlog::warn("{}: added token \"{}\" has lstrip/rstrip/single_word set; they are not applied", label, content);
      warned_strip = true;
    }
    v.tokens[id] = content;
    v.types[id] = static_cast<int32_t>(special ? TokenType::Control : TokenType::UserDefined);
    added_ids.emplace(content, static_cast<int32_t>(id));
  }
  size_t holes = 0;
  for (size_t id = 0; id < n; ++id)
    if (v.types[id] == -1) {
      v.tokens[id] = "<|unused_" + std::to_string(id) + "|>";
      v.types[id] = static_cast<int32_t>(TokenType::Unused);
      ++holes;
    }
  if (holes) spdlog::warn("{}: {} ids between 0 and {} name no token; filled with unused placeholders", label, holes, n);
}

// Merges, as "left right" (both of tokenizers' spellings accepted).
void read_merges(const Reader& r, const json& merges, BpeVocab& v) {
  v.merges.reserve(merges.size());
  for (const json& m : merges) {
    if (m.is_string()) {
      const std::string& s = m.get_ref<const std::string&>();
      const size_t sp = s.find(' ', 1);
      if (sp == std::string::npos || sp + 1 >= s.size()) r.malformed("the merge \"" + s + "\" is not \"left right\"");
      v.merges.push_back(s);
    } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
      const std::string& a = m[0].get_ref<const std::string&>();
      const std::string& b = m[1].get_ref<const std::string&>();
      if (a.empty() || b.empty() || a.find(' ') != std::string::npos || b.find(' ') != std::string::npos)
        r.unsupported("the merge " + brief(m) + " has an empty part or a space inside a part (not byte-level BPE)");
      v.merges.push_back(a + " " + b);
    } else {
      r.malformed("the merge " + brief(m) + " is neither \"left right\" nor [\"left\", \"right\"]");
    }
  }
}

// The normalizer (none, or NFC with a warning) and the pre-tokenizer, mapped to a named rule.
void read_pre_tokenizer(const Reader& r, const json& tj, const json& model, const std::string& label, BpeVocab& v) {
  if (tj.contains("normalizer") && !tj["normalizer"].is_null()) {
    const json& nz = tj["normalizer"];
    const std::string nt = nz.is_object() ? r.str(nz, "type", "", "normalizer") : "";
    const bool empty_sequence =
        nt == "Sequence" && nz.contains("normalizers") && nz["normalizers"].is_array() && nz["normalizers"].empty();
    if (nt == "NFC")
      spdlog::warn("{}: the NFC normalizer is not applied (text that is not in NFC may tokenize differently)", label);
    else if (!empty_sequence)
      r.unsupported("the normalizer " + brief(nz) + " is not supported (only none, or NFC)");
  }
  if (!tj.contains("pre_tokenizer") || tj["pre_tokenizer"].is_null())
    r.unsupported("a BPE tokenizer without a pre_tokenizer is not supported (byte-level BPE needs ByteLevel)");
  std::vector<std::string> rx;
  r.pre_regexes(tj["pre_tokenizer"], rx);
  if (!r.byte_level_)
    r.unsupported("the pre_tokenizer " + brief(tj["pre_tokenizer"]) + " has no ByteLevel step (not byte-level BPE)");
  v.pre = rule_for(rx);
  if (v.pre.empty())
    r.unsupported("the pre_tokenizer " + brief(tj["pre_tokenizer"]) +
                  " matches none of the known rules (gpt2, smollm, llama3, qwen2)");
  const bool ignore_merges = r.flag(model, "ignore_merges", false, "model");
  if (ignore_merges != pre_tokenizer_rule(v.pre).ignore_merges)
    spdlog::warn("{}: model.ignore_merges is {} but the {} rule uses {}; the rule's setting applies", label,
                 ignore_merges, v.pre, pre_tokenizer_rule(v.pre).ignore_merges);
}

using IdOf = std::function<int32_t(const std::string& text)>;

// The post-processor's special tokens around $A: BOS before, EOS after.
void apply_post_processor(const Reader& r, const json& p, const IdOf& id_of, BpeVocab& v) {
  if (p.is_null()) return;
  const uint64_t n = v.tokens.size();
  const std::string pt = p.is_object() ? r.str(p, "type", "", "post_processor") : "";
  if (pt == "Sequence") {
    if (p.contains("processors") && p["processors"].is_array())
      for (const json& q : p["processors"]) apply_post_processor(r, q, id_of, v);
    return;
  }
  if (pt == "ByteLevel") return;
  if (pt == "TemplateProcessing") {
    if (!p.contains("single") || !p["single"].is_array()) r.malformed("post_processor.single is not an array");
    bool seen_seq = false;
    for (const json& item : p["single"]) {
      if (item.contains("Sequence")) {
        seen_seq = true;
        continue;
      }
      if (!item.contains("SpecialToken") || !item["SpecialToken"].contains("id") || !item["SpecialToken"]["id"].is_string())
        r.malformed("post_processor.single item " + brief(item) + " is neither a Sequence nor a SpecialToken");
      const std::string tok = item["SpecialToken"]["id"].get<std::string>();
      int32_t id = -1;
      if (p.contains("special_tokens") && p["special_tokens"].contains(tok)) {
        const json& st = p["special_tokens"][tok];
        if (st.contains("ids") && st["ids"].is_array() && st["ids"].size() == 1 && is_index(st["ids"][0]))
          id = static_cast<int32_t>(std::min<uint64_t>(st["ids"][0].get<uint64_t>(), INT32_MAX));
      }
      if (id < 0) id = id_of(tok);
      if (id < 0 || static_cast<uint64_t>(id) >= n)
        r.malformed("post_processor names the special token \"" + tok + "\", which is not in the vocabulary");
      if (!seen_seq) {
        v.bos = id;
        v.add_bos = true;
      } else {
        v.eos = id;
        v.add_eos = true;
      }
    }
    return;
  }
  if (pt == "BertProcessing" || pt == "RobertaProcessing") {
    auto pair_id = [&](const char* key) -> int32_t {
      if (!p.contains(key) || !p[key].is_array() || p[key].size() != 2 || !is_index(p[key][1]) || p[key][1].get<uint64_t>() >= n)
        r.malformed(std::string("post_processor.") + key + " is not [token, id] within the vocabulary");
      return static_cast<int32_t>(p[key][1].get<uint64_t>());
    };
    v.bos = pair_id("cls");
    v.eos = pair_id("sep");
    v.add_bos = v.add_eos = true;
    return;
  }
  r.unsupported("the post_processor " + brief(p) + " is not supported");
}

// tokenizer_config.json's bos_token / eos_token / add_bos_token / add_eos_token override.
void apply_tokenizer_config(const json& cfg, const std::string& label, const IdOf& id_of, BpeVocab& v) {
  const Reader rc(label + " (tokenizer_config.json)");
  for (const char* key : {"bos_token", "eos_token"}) {
    const auto text = config_token(cfg, key, rc);
    if (!text) continue;
    const int32_t id = id_of(*text);
    if (id < 0) rc.malformed(std::string(key) + " \"" + *text + "\" is not a token of tokenizer.json's vocabulary");
    (std::string(key) == "bos_token" ? v.bos : v.eos) = id;
  }
  v.add_bos = rc.flag(cfg, "add_bos_token", v.add_bos, "tokenizer_config");
  v.add_eos = rc.flag(cfg, "add_eos_token", v.add_eos, "tokenizer_config");
}

}  // namespace

BpeVocab bpe_vocab_from_tokenizer_json(const json& tj, const json* tokenizer_config, const std::string& label) {
  const Reader r(label);
  const json& model = bpe_model(r, tj);
  const json& vocab = model["vocab"];
  BpeVocab v;
  std::unordered_map<std::string, int32_t> added_ids;  // content -> id
  read_vocab(r, tj, vocab, label, v, added_ids);
  read_merges(r, model["merges"], v);
  read_pre_tokenizer(r, tj, model, label, v);
  // Token lookup by text: added tokens by content, then vocabulary entries as written or in byte-level form.
  const IdOf id_of = [&](const std::string& text) -> int32_t {
    if (auto it = added_ids.find(text); it != added_ids.end()) return it->second;
    if (vocab.contains(text)) return static_cast<int32_t>(vocab[text].get<uint64_t>());
    const std::string bl = gpt2_bytes_to_unicode(text);
    if (vocab.contains(bl)) return static_cast<int32_t>(vocab[bl].get<uint64_t>());
    return -1;
  };
  if (tj.contains("post_processor")) apply_post_processor(r, tj["post_processor"], id_of, v);
  if (tokenizer_config && tokenizer_config->is_object()) apply_tokenizer_config(*tokenizer_config, label, id_of, v);
  return v;
}

std::unique_ptr<Tokenizer> load_tokenizer_json(const json& tokenizer, const json* tokenizer_config,
                                               const std::string& label) {
  BpeVocab v = bpe_vocab_from_tokenizer_json(tokenizer, tokenizer_config, label);
  try {
    return std::make_unique<BpeTokenizer>(v);
  } catch (const Error& e) {
    throw Error(label + ": " + e.what());
  }
}

std::unique_ptr<Tokenizer> load_tokenizer_json(const std::string& path, const json* tokenizer_config) {
  const std::string text = mtk::fs::read_file(path);
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {
    throw Error(path + " is not valid JSON: " + e.what(), kMalformedFix);
  }
  return load_tokenizer_json(j, tokenizer_config, path);
}

}  // namespace mtk::llm
