#pragma once
// A small GGUF v3 writer: string / u32 / f32 metadata and float32 tensors, enough for adapter files
// (LoRA export for llama.cpp). Layout as gguf.hpp describes: header, key-value pairs, tensor infos,
// padding to the alignment (32), then each tensor's bytes at an aligned offset. Shapes are given in
// PyTorch order (outermost first) and written reversed, as GGUF's dims[0] is the row length.
#include <cstdint>
#include <string>
#include <vector>

namespace mtk::llm {

class GgufWriter {
 public:
  GgufWriter& kv_string(const std::string& key, const std::string& value);
  GgufWriter& kv_u32(const std::string& key, uint32_t value);
  GgufWriter& kv_f32(const std::string& key, float value);
  // Copies `data` (product of shape floats).
  GgufWriter& tensor_f32(const std::string& name, const std::vector<int64_t>& shape, const float* data);
  // The whole image; write() stores it atomically (temporary file, then rename).
  std::string bytes() const;
  void write(const std::string& path) const;

 private:
  std::vector<std::string> kvs_;
  struct Tensor {
    std::string name;
    std::vector<int64_t> shape;
    std::vector<float> data;
  };
  std::vector<Tensor> tensors_;
};

}  // namespace mtk::llm
