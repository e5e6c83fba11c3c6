// Hugging Face model directories: config.json + safetensors (single or sharded), tensor names mapped
// to the GGUF-style ones by the architecture registry (arch.cpp), tokenizer.json and the chat
// template from tokenizer_config.json.
#include <ATen/ATen.h>

#include <nlohmann/json.hpp>

#include "mtk/core/error.hpp"
#include "mtk/core/log.hpp"
#include "mtk/llm/hf_model.hpp"
#include "mtk/llm/model.hpp"
#include "mtk/llm/safetensors.hpp"
#include "mtk/llm/tokenizer.hpp"
#include "mtk/llm/tokenizer_json.hpp"

namespace mtk::llm {

namespace {

std::unique_ptr<Model> model_from_dir(const HfModelDir& d, const LoadOptions& opt) {
  const ModelConfig cfg = config_from_hf(d.config, d.path + "/config.json");
  // GGUF-style name -> safetensors entry.
  std::map<std::string, const SafeTensorInfo*> by_name;
  for (const SafeTensorInfo* tp : d.tensors.tensors()) {
    const SafeTensorInfo& t = *tp;
    const std::string n = hf_to_gguf_name(cfg.arch, t.name);
    if (!n.empty()) by_name[n] = &t;
  }
  const bool plus_one = cfg.norm_plus_one;
  const TensorSource get = [&](const std::string& name) -> Weight {
    Weight w;
    auto it = by_name.find(name);
    if (it == by_name.end()) return w;
    const SafeTensorInfo& t = *it->second;
    std::vector<int64_t> shape(t.shape.begin(), t.shape.end());
    at::Tensor x = at::empty(shape, at::kFloat);
    safetensor_to_f32(t, x.data_ptr<float>());
    // Gemma's RMSNorm scales by (1 + w); GGUF files store 1 + w, so the model always multiplies.
    const bool is_norm = name.size() > 12 && name.compare(name.size() - 12, 12, "_norm.weight") == 0;
    if (plus_one && is_norm) x.add_(1.0);
    w.dense = x;
    if (shape.size() == 2) {
      w.out = shape[0];
      w.in = shape[1];
    }
    return w;
  };
  return Model::from_tensors(cfg, get, opt, d.path);
}

}  // namespace

std::unique_ptr<Model> load_hf_model(const std::string& dir, const LoadOptions& opt) {
  const HfModelDir d = load_hf_dir(dir, /*with_tokenizer=*/false);
  return model_from_dir(d, opt);
}

void load_hf_language_model(const std::string& dir, const LoadOptions& opt, std::optional<ChatFormat> format,
                            std::unique_ptr<Model>& model, std::unique_ptr<Tokenizer>& tok, ChatTemplateSpec& chat) {
  const HfModelDir d = load_hf_dir(dir, /*with_tokenizer=*/true);
  if (!d.has_tokenizer())
    throw Error(dir + " has no tokenizer.json", "copy the model's tokenizer.json (and tokenizer_config.json) beside config.json");
  model = model_from_dir(d, opt);
  tok = load_tokenizer_json(d.tokenizer_json_path, d.tokenizer_config.is_null() ? nullptr : &d.tokenizer_config);
  std::string tmpl;
  if (d.tokenizer_config.is_object()) {
    auto it = d.tokenizer_config.find("chat_template");
    if (it != d.tokenizer_config.end() && it->is_string()) tmpl = it->get<std::string>();
  }
  chat = ChatTemplateSpec{};
  chat.format = format ? *format : detect_chat_format(tmpl);
  if (tok->bos() >= 0) chat.bos_text = tok->token_text(tok->bos());
  if (tok->eos() >= 0) chat.eos_text = tok->token_text(tok->eos());
  if (chat.format == ChatFormat::chatml) chat.default_system = chatml_default_system(tmpl);
}

}  // namespace mtk::llm
