// libFuzzer target for the safetensors reader: parse arbitrary bytes, then touch everything a caller
// would (lookup by name, the metadata, the raw bytes and the float32 decode of every tensor). Any input
// may be rejected with mtk::Error; anything else (a crash, a sanitizer report, another exception type)
// is a finding. Built by fuzz/run.sh safetensors.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "mtk/core/error.hpp"
#include "mtk/llm/safetensors.hpp"

using namespace mtk::llm;

namespace {
volatile double g_sink;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const auto f = SafetensorsFile::from_bytes(std::string_view(reinterpret_cast<const char*>(data), size), "fuzz");
    double acc = 0;
    for (const auto& [k, v] : f.metadata()) acc += static_cast<double>(k.size() + v.size());
    std::vector<float> buf;
    for (const auto& t : f.tensors()) {
      if (f.find(t.name) != &t) __builtin_trap();
      if (t.n_bytes() > f.file_size() - f.data_offset() || t.end > f.file_size() - f.data_offset()) __builtin_trap();
      const std::string_view b = f.bytes(t);
      for (size_t k = 0; k < b.size(); k += 1 + b.size() / 8) acc += static_cast<unsigned char>(b[k]);
      try {
        buf.resize(static_cast<size_t>(t.n_elements));
        safetensor_to_f32(t, buf.data());
        for (float x : buf) acc += x;
      } catch (const mtk::Error&) {
      }
    }
    g_sink = acc;
  } catch (const mtk::Error&) {
  }
  return 0;
}
