// load_tokenizer: picks the tokenizer implementation from a GGUF file's tokenizer.ggml.* keys.
#include "mtk/llm/tokenizer.hpp"

#include "mtk/core/error.hpp"
#include "mtk/llm/gguf.hpp"
#include "mtk/llm/tokenizer_bpe.hpp"
#include "mtk/llm/tokenizer_spm.hpp"

namespace mtk::llm {

namespace {

int32_t optional_id(const GgufFile& f, const std::string& key) {
  const GgufValue* v = f.find(key);
  if (!v) return -1;
  if (!v->is_integer()) throw Error(f.path() + ": " + key + " is not an integer", "fix the model's metadata");
  return static_cast<int32_t>(f.get_i64(key));
}

}  // namespace

std::unique_ptr<Tokenizer> load_tokenizer(const GgufFile& f) {
  const std::string label = f.path().empty() ? std::string("<memory>") : f.path();
  if (!f.has("tokenizer.ggml.model") || !f.has("tokenizer.ggml.tokens"))
    throw Error(label + " has no tokenizer (tokenizer.ggml.model / tokenizer.ggml.tokens are missing)",
                "use a GGUF file converted with its vocabulary (llama.cpp convert_hf_to_gguf.py)");
  const std::string model = f.get_string("tokenizer.ggml.model");
  if (model == "gpt2") {
    BpeVocab v;
    v.tokens = f.get_strings("tokenizer.ggml.tokens");
    if (f.has("tokenizer.ggml.token_type")) {
      const std::vector<int64_t> types = f.get_ints("tokenizer.ggml.token_type");
      v.types.assign(types.begin(), types.end());
    }
    if (!f.has("tokenizer.ggml.merges"))
      throw Error(label + ": a byte-level BPE vocabulary (tokenizer.ggml.model = gpt2) without tokenizer.ggml.merges",
                  "re-convert the model with llama.cpp convert_hf_to_gguf.py");
    v.merges = f.get_strings("tokenizer.ggml.merges");
    v.pre = f.get_string("tokenizer.ggml.pre", "default");
    v.bos = optional_id(f, "tokenizer.ggml.bos_token_id");
    v.eos = optional_id(f, "tokenizer.ggml.eos_token_id");
    v.add_bos = f.get_bool("tokenizer.ggml.add_bos_token", false);
    v.add_eos = f.get_bool("tokenizer.ggml.add_eos_token", false);
    try {
      return std::make_unique<BpeTokenizer>(v);
    } catch (const Error& e) {
      throw Error(label + ": " + e.what());
    }
  }
  if (model == "llama") {
    SpmVocab v;
    v.tokens = f.get_strings("tokenizer.ggml.tokens");
    if (f.has("tokenizer.ggml.scores")) v.scores = f.get_floats("tokenizer.ggml.scores");
    if (f.has("tokenizer.ggml.token_type")) {
      const std::vector<int64_t> types = f.get_ints("tokenizer.ggml.token_type");
      v.types.assign(types.begin(), types.end());
    }
    v.bos = optional_id(f, "tokenizer.ggml.bos_token_id");
    v.eos = optional_id(f, "tokenizer.ggml.eos_token_id");
    v.unk = optional_id(f, "tokenizer.ggml.unknown_token_id");
    v.add_bos = f.get_bool("tokenizer.ggml.add_bos_token", true);
    v.add_eos = f.get_bool("tokenizer.ggml.add_eos_token", false);
    v.add_space_prefix = f.get_bool("tokenizer.ggml.add_space_prefix", true);
    try {
      return std::make_unique<SpmTokenizer>(v);
    } catch (const Error& e) {
      throw Error(label + ": " + e.what());
    }
  }
  throw Error(label + ": unsupported tokenizer.ggml.model \"" + model + "\"",
              "use a model with a byte-level BPE (gpt2) or SentencePiece (llama) vocabulary");
}

}  // namespace mtk::llm
