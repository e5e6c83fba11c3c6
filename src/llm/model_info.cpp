#include "mtk/llm/model_info.hpp"

#include <filesystem>

#include "mtk/core/error.hpp"
#include "mtk/core/fs.hpp"
#include "mtk/core/strings.hpp"

#include <cstdio>
#include <sstream>

namespace mtk::llm {

namespace {

uint64_t u64_or(const GgufFile& f, const std::string& key, uint64_t dflt) {
  const GgufValue* v = f.find(key);
  return v && v->is_integer() ? f.get_u64(key) : dflt;
}


}  // namespace

ModelInfo describe(const GgufFile& f) {
  ModelInfo m;
  m.path = f.path();
  m.gguf_version = f.version();
  m.architecture = f.get_string("general.architecture");
  m.name = f.get_string("general.name", "");
  m.file_type = u64_or(f, "general.file_type", 0);
  for (const auto& t : f.tensors()) {
    auto& s = m.by_type[type_name(t.type)];
    ++s.tensors;
    s.elements += t.n_elements;
    s.bytes += t.n_bytes;
    m.parameter_count += t.n_elements;
    m.tensor_bytes += t.n_bytes;
  }
  m.tensor_count = f.tensors().size();
  const std::string a = m.architecture + ".";
  m.context_length = u64_or(f, a + "context_length", 0);
  m.embedding_length = u64_or(f, a + "embedding_length", 0);
  m.block_count = u64_or(f, a + "block_count", 0);
  m.head_count = u64_or(f, a + "attention.head_count", 0);
  m.head_count_kv = u64_or(f, a + "attention.head_count_kv", m.head_count);
  const GgufValue* tokens = f.find("tokenizer.ggml.tokens");
  m.vocab_size = tokens && tokens->type == GgufType::Array ? tokens->count : u64_or(f, a + "vocab_size", 0);
  m.tokenizer_model = f.get_string("tokenizer.ggml.model", "");
  m.tokenizer_pre = f.get_string("tokenizer.ggml.pre", "");
  m.has_chat_template = f.has("tokenizer.chat_template");
  return m;
}

std::string ModelInfo::to_string() const {
  std::ostringstream o;
  o << "file:            " << path << " (GGUF v" << gguf_version << ")\n";
  o << "architecture:    " << architecture << (name.empty() ? "" : " (" + name + ")") << "\n";
  o << "parameters:      " << parameter_count << " in " << tensor_count << " tensors, " << human_bytes(tensor_bytes)
    << "\n";
  for (const auto& [type, s] : by_type)
    o << "  " << type << ": " << s.tensors << " tensors, " << s.elements << " elements, " << human_bytes(s.bytes)
      << "\n";
  o << "context length:  " << context_length << "\n";
  o << "embedding:       " << embedding_length << ", blocks " << block_count << ", heads " << head_count << " (kv "
    << head_count_kv << ")\n";
  o << "vocabulary:      " << vocab_size << " tokens, tokenizer " << (tokenizer_model.empty() ? "?" : tokenizer_model)
    << (tokenizer_pre.empty() ? "" : " (pre " + tokenizer_pre + ")") << "\n";
  o << "chat template:   " << (has_chat_template ? "yes" : "no") << "\n";
  return o.str();
}

std::string resolve_model(const std::string& name) {
  static const std::map<std::string, std::pair<std::string, std::string>> known = {
      {"smollm2", {"SmolLM2-135M-Instruct.Q4_1.gguf", "smollm2"}},
      {"gemma3", {"gemma-3-270m-q4_k_m.gguf", "gemma3"}}};
  if (auto it = known.find(name); it != known.end()) {
    auto p = fs::project_root() / "models" / it->second.first;
    if (!std::filesystem::exists(p))
      throw Error("model " + name + " is not downloaded (" + p.string() + ")",
                  "run scripts/fetch_models.sh " + it->second.second);
    return p.string();
  }
  if (!std::filesystem::exists(name))
    throw Error("model file " + name + " does not exist", "pass a .gguf path, or smollm2 / gemma3 after scripts/fetch_models.sh");
  return name;
}

}  // namespace mtk::llm
