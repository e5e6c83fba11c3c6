#pragma once
// A summary of a GGUF model for `manim-agent model-info` and run records.
#include <cstdint>
#include <map>
#include <string>

#include "mtk/llm/gguf.hpp"

namespace mtk::llm {

struct TensorTypeStats {
  uint64_t tensors = 0;
  uint64_t elements = 0;
  uint64_t bytes = 0;
};

struct ModelInfo {
  std::string path;
  uint32_t gguf_version = 0;
  std::string architecture;      // general.architecture
  std::string name;              // general.name, "" when absent
  uint64_t file_type = 0;        // general.file_type (llama.cpp's ftype; 0 when absent)
  uint64_t parameter_count = 0;  // elements over all tensors
  uint64_t tensor_bytes = 0;
  uint64_t tensor_count = 0;
  std::map<std::string, TensorTypeStats> by_type;  // keyed by ggml type name
  uint64_t context_length = 0;                     // <arch>.context_length
  uint64_t embedding_length = 0;                   // <arch>.embedding_length
  uint64_t block_count = 0;                        // <arch>.block_count
  uint64_t head_count = 0;                         // <arch>.attention.head_count
  uint64_t head_count_kv = 0;                      // <arch>.attention.head_count_kv (head_count when absent)
  uint64_t vocab_size = 0;                         // length of tokenizer.ggml.tokens, else <arch>.vocab_size
  std::string tokenizer_model;                     // tokenizer.ggml.model ("gpt2", "llama", ...)
  std::string tokenizer_pre;                       // tokenizer.ggml.pre
  bool has_chat_template = false;                  // tokenizer.chat_template present

  // Multi-line human-readable form.
  std::string to_string() const;
};

// Throws mtk::Error when general.architecture is missing.
ModelInfo describe(const GgufFile& f);

// A model argument to a file: "smollm2" and "gemma3" name the models that scripts/fetch_models.sh
// puts in <project>/models/; anything else is a path. Throws mtk::Error naming the fix when the
// file does not exist.
std::string resolve_model(const std::string& name_or_path);

}  // namespace mtk::llm
