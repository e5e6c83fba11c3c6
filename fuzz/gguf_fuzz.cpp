// libFuzzer target for the GGUF reader: parse arbitrary bytes, then touch everything a caller
// would (typed getters on every key, array elements, the model summary, and the first rows of
// every tensor through the dequantiser). Any input may be rejected with mtk::Error; anything else
// (a crash, a sanitizer report, another exception type) is a finding. Built by fuzz/run.sh.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "mtk/core/error.hpp"
#include "mtk/llm/gguf.hpp"
#include "mtk/llm/model_info.hpp"
#include "mtk/llm/quant.hpp"

using namespace mtk::llm;

namespace {

volatile double g_sink;

void touch_value(const GgufValue& v) {
  double acc = static_cast<double>(v.u) + static_cast<double>(v.i) + v.f + static_cast<double>(v.str.size());
  if (v.type == GgufType::Array) {
    if (!v.raw.empty())
      for (uint64_t k = 0; k < v.count; k += 1 + v.count / 16) acc += v.float_at(k) + static_cast<double>(v.int_at(k));
    for (auto s : v.strings) acc += static_cast<double>(s.size());
    for (const auto& item : v.items) touch_value(item);
  }
  g_sink = acc;
}

template <class F>
void swallow(F&& f) {
  try {
    f();
  } catch (const mtk::Error&) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const auto f = GgufFile::from_bytes(std::string_view(reinterpret_cast<const char*>(data), size), "fuzz.gguf");
    for (const auto& entry : f.metadata()) {
      const std::string& key = entry.first;
      touch_value(entry.second);
      swallow([&] { g_sink = f.get_u32(key); });
      swallow([&] { g_sink = static_cast<double>(f.get_i64(key)); });
      swallow([&] { g_sink = f.get_f32(key); });
      swallow([&] { g_sink = f.get_bool(key); });
      swallow([&] { g_sink = static_cast<double>(f.get_string(key).size()); });
      swallow([&] { g_sink = static_cast<double>(f.get_strings(key).size()); });
      swallow([&] { g_sink = static_cast<double>(f.get_floats(key).size()); });
      swallow([&] { g_sink = static_cast<double>(f.get_ints(key).size()); });
      swallow([&] { g_sink = static_cast<double>(f.get_array_size(key)); });
    }
    swallow([&] { g_sink = static_cast<double>(describe(f).to_string().size()); });
    std::vector<float> buf;
    for (const auto& t : f.tensors()) {
      if (f.find_tensor(t.name) != &t) __builtin_trap();
      if (!type_info(t.type).dequantizable || t.n_elements == 0) continue;
      // The first rows only: a valid tensor can be large, and the full decode adds no coverage.
      const uint64_t row = t.row_length();
      const uint64_t rows = std::min<uint64_t>(t.n_rows(), 1 + (1u << 14) / row);
      buf.resize(static_cast<size_t>(rows * row));
      dequantize_rows(t.type, t.data, buf.data(), static_cast<size_t>(rows), static_cast<size_t>(row), 1);
      g_sink = buf[0];
    }
  } catch (const mtk::Error&) {
  }
  return 0;
}
