// GGUF writer (see include/mtk/llm/gguf_write.hpp).
#include "mtk/llm/gguf_write.hpp"

#include <cstring>

#include "mtk/core/error.hpp"
#include "mtk/core/fs.hpp"

namespace mtk::llm {
namespace {

constexpr uint32_t kAlign = 32;
constexpr uint32_t kTypeU32 = 4, kTypeF32 = 6, kTypeString = 8;  // GGUF value types
constexpr uint32_t kGgmlF32 = 0;

template <class T>
void put(std::string& out, T v) {
  char b[sizeof(T)];
  std::memcpy(b, &v, sizeof(T));  // little-endian hosts only (as the reader)
  out.append(b, sizeof(T));
}
void put_str(std::string& out, const std::string& s) {
  put<uint64_t>(out, s.size());
  out += s;
}
uint64_t align_up(uint64_t x) { return (x + kAlign - 1) / kAlign * kAlign; }

}  // namespace

namespace {
std::string kv_entry(const std::string& key, uint32_t type, const std::string& payload) {
  std::string e;
  put_str(e, key);
  put<uint32_t>(e, type);
  return e + payload;
}
template <class T>
std::string scalar(T v) {
  std::string s;
  put<T>(s, v);
  return s;
}
}  // namespace

GgufWriter& GgufWriter::kv_string(const std::string& key, const std::string& value) {
  std::string payload;
  put_str(payload, value);
  kvs_.push_back(kv_entry(key, kTypeString, payload));
  return *this;
}
GgufWriter& GgufWriter::kv_u32(const std::string& key, uint32_t value) {
  kvs_.push_back(kv_entry(key, kTypeU32, scalar(value)));
  return *this;
}
GgufWriter& GgufWriter::kv_f32(const std::string& key, float value) {
  kvs_.push_back(kv_entry(key, kTypeF32, scalar(value)));
  return *this;
}
GgufWriter& GgufWriter::tensor_f32(const std::string& name, const std::vector<int64_t>& shape, const float* data) {
  if (name.empty() || name.size() > 63) throw Error("GGUF tensor name \"" + name + "\" must have 1 to 63 bytes", "rename it");
  int64_t n = 1;
  for (int64_t d : shape) {
    if (d <= 0) throw Error("GGUF tensor " + name + " has a non-positive dimension", "check its shape");
    n *= d;
  }
  tensors_.push_back({name, shape, std::vector<float>(data, data + n)});
  return *this;
}

std::string GgufWriter::bytes() const {
  std::string out = "GGUF";
  put<uint32_t>(out, 3);
  put<uint64_t>(out, tensors_.size());
  put<uint64_t>(out, kvs_.size());
  for (const auto& k : kvs_) out += k;
  uint64_t offset = 0;
  for (const auto& t : tensors_) {
    put_str(out, t.name);
    put<uint32_t>(out, static_cast<uint32_t>(t.shape.size()));
    for (auto d = t.shape.rbegin(); d != t.shape.rend(); ++d) put<uint64_t>(out, static_cast<uint64_t>(*d));
    put<uint32_t>(out, kGgmlF32);
    put<uint64_t>(out, offset);
    offset = align_up(offset + t.data.size() * sizeof(float));
  }
  out.resize(align_up(out.size()), '\0');
  for (const auto& t : tensors_) {
    out.append(reinterpret_cast<const char*>(t.data.data()), t.data.size() * sizeof(float));
    out.resize(align_up(out.size()), '\0');
  }
  return out;
}

void GgufWriter::write(const std::string& path) const { fs::atomic_write(path, bytes()); }

}  // namespace mtk::llm
