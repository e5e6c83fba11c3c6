#pragma once
// Where the transformer encoders (clip.hpp, encoder_text.hpp) get their weights from, without
// naming libtorch: a callback that fills one float32 tensor by its Hugging Face name and shape.
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace mtk::llm {
class SafetensorsModel;
}  // namespace mtk::llm

namespace mtk::encoders {

using llm::SafetensorsModel;

// Writes the tensor `name` (row-major, `shape`) as float32 to dst (product(shape) floats). Throws
// mtk::Error when the tensor is absent or has another shape.
using TensorSource = std::function<void(const std::string& name, const std::vector<int64_t>& shape, float* dst)>;

// Reads from a checkpoint (F32/F16/BF16), checking each tensor's shape; `prefix` is prepended to
// every name. The model must outlive the source.
TensorSource safetensors_source(const SafetensorsModel& model, std::string prefix = {});

// Deterministic random weights for parity tests and benchmarks (the same numbers as
// tests/llm/fixtures/clip/make_fixture.py's random_weight, which documents the recipe): a
// splitmix64 stream per tensor seeded with fnv1a64(name) ^ seed; uniform values, layer-norm weights
// near 1, small biases, linear weights in +-1/sqrt(fan_in).
TensorSource random_source(uint64_t seed);
void random_weight(const std::string& name, const std::vector<int64_t>& shape, uint64_t seed, float* dst);

// Whether the checkpoint has `name` (for choosing between naming schemes).
bool has_tensor(const SafetensorsModel& model, const std::string& name);

}  // namespace mtk::encoders
