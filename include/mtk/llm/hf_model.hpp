#pragma once
// Hugging Face model directories (what `save_pretrained` writes and the Hub serves):
//
//   config.json                     required: architecture and sizes ("model_type", "hidden_size", ...)
//   model.safetensors               the weights, or
//   model.safetensors.index.json    + the shards it names (see safetensors.hpp)
//   generation_config.json          optional: default sampling settings, bos/eos ids
//   tokenizer.json                  optional: the `tokenizers` serialization (tokenizer_json.hpp)
//   tokenizer_config.json           optional: bos/eos tokens, add_bos_token, chat_template
//
// load_hf_dir parses the JSON files and opens the weights (memory-mapped); turning them into a
// model is model_hf.cpp's job. Comments are not allowed in these files (they are plain JSON).
#include <nlohmann/json.hpp>
#include <string>

#include "mtk/llm/safetensors.hpp"

namespace mtk::llm {

struct HfModelDir {
  std::string path;                  // the directory
  nlohmann::json config;             // config.json (an object)
  nlohmann::json generation_config;  // generation_config.json, null when absent
  nlohmann::json tokenizer;          // tokenizer.json, null when absent
  nlohmann::json tokenizer_config;   // tokenizer_config.json, null when absent
  std::string tokenizer_json_path;   // empty when there is no tokenizer.json
  SafetensorsModel tensors;

  bool has_tokenizer() const { return !tokenizer_json_path.empty(); }
  // config["model_type"], or "" when absent.
  std::string model_type() const;
};

// Whether `path` is a directory with config.json and safetensors weights (cheap: no parsing).
bool is_hf_model_dir(const std::string& path);

// Reads a model directory. Throws mtk::Error naming the file and the fix for a path that is not a
// directory, a directory without config.json or weights ("... is not a Hugging Face model
// directory"), JSON that does not parse, and any problem the safetensors reader finds.
// with_tokenizer: parse tokenizer.json too (several MB for large vocabularies).
HfModelDir load_hf_dir(const std::string& path, bool with_tokenizer = true);

}  // namespace mtk::llm
