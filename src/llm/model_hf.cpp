// Hugging Face model directories: config.json + safetensors, names mapped by the arch registry.
#include "mtk/core/error.hpp"
#include "mtk/llm/model.hpp"
#include "mtk/llm/tokenizer.hpp"

namespace mtk::llm {

std::unique_ptr<Model> load_hf_model(const std::string& dir, const LoadOptions&) {
  throw Error(dir + ": Hugging Face directories are not loadable yet", "use a .gguf file");
}

}  // namespace mtk::llm

namespace mtk::llm {
void load_hf_language_model(const std::string& dir, const LoadOptions& opt, std::optional<ChatFormat>,
                            std::unique_ptr<Model>& model, std::unique_ptr<Tokenizer>&, ChatTemplateSpec&) {
  model = load_hf_model(dir, opt);
}
}  // namespace mtk::llm
