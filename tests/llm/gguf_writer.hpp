#pragma once
// Test-side GGUF image builder, written from the format description (not with the reader's code):
// valid images plus hooks to corrupt each part (counts, versions, raw key-value bytes, offsets).
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mtk::testing {

// Little-endian encoders for building byte images.
struct Enc {
  static std::string u8(uint8_t v) { return std::string(1, static_cast<char>(v)); }
  static std::string u16(uint16_t v) { return le(v, 2); }
  static std::string u32(uint32_t v) { return le(v, 4); }
  static std::string u64(uint64_t v) { return le(v, 8); }
  static std::string i8(int8_t v) { return u8(static_cast<uint8_t>(v)); }
  static std::string i16(int16_t v) { return u16(static_cast<uint16_t>(v)); }
  static std::string i32(int32_t v) { return u32(static_cast<uint32_t>(v)); }
  static std::string i64(int64_t v) { return u64(static_cast<uint64_t>(v)); }
  static std::string f32(float v) {
    uint32_t b;
    std::memcpy(&b, &v, 4);
    return u32(b);
  }
  static std::string f64(double v) {
    uint64_t b;
    std::memcpy(&b, &v, 8);
    return u64(b);
  }
  static std::string str(std::string_view s) { return u64(s.size()) + std::string(s); }
  static std::string le(uint64_t v, int n) {
    std::string s;
    for (int k = 0; k < n; ++k) s += static_cast<char>((v >> (8 * k)) & 0xff);
    return s;
  }
};

// Value type ids of the format.
enum : uint32_t { kU8 = 0, kI8, kU16, kI16, kU32, kI32, kF32, kBool, kString, kArray, kU64, kI64, kF64 };

class GgufBuilder {
 public:
  std::string magic = "GGUF";
  uint32_t version = 3;
  std::optional<uint64_t> tensor_count;  // overrides the real counts when set
  std::optional<uint64_t> kv_count;
  uint32_t layout_alignment = 32;  // used to place tensor data (set general.alignment to match)

  // A key-value pair with an already encoded value.
  GgufBuilder& kv(const std::string& key, uint32_t type, const std::string& value) {
    kvs_.push_back(Enc::str(key) + Enc::u32(type) + value);
    return *this;
  }
  // Raw bytes in place of one key-value pair (for corrupt entries).
  GgufBuilder& kv_raw(const std::string& bytes) {
    kvs_.push_back(bytes);
    return *this;
  }
  GgufBuilder& kv_u32(const std::string& key, uint32_t v) { return kv(key, kU32, Enc::u32(v)); }
  GgufBuilder& kv_str(const std::string& key, const std::string& v) { return kv(key, kString, Enc::str(v)); }
  static std::string array(uint32_t elem_type, const std::vector<std::string>& encoded_elems) {
    std::string s = Enc::u32(elem_type) + Enc::u64(encoded_elems.size());
    for (const auto& e : encoded_elems) s += e;
    return s;
  }

  struct Tensor {
    std::string name;
    std::vector<uint64_t> dims;
    uint32_t type = 0;
    std::string data;                     // the tensor's bytes
    std::optional<uint64_t> offset;       // placed automatically when unset
    std::optional<uint64_t> info_offset;  // written in the info instead of the real offset
  };
  GgufBuilder& tensor(Tensor t) {
    tensors_.push_back(std::move(t));
    return *this;
  }
  // Raw bytes in place of one tensor info (its data is not written).
  GgufBuilder& tensor_info_raw(const std::string& bytes) {
    raw_infos_.push_back(bytes);
    return *this;
  }

  std::string build() const {
    std::string out = magic + Enc::u32(version);
    out += Enc::u64(tensor_count ? *tensor_count : tensors_.size() + raw_infos_.size());
    out += Enc::u64(kv_count ? *kv_count : kvs_.size());
    for (const auto& k : kvs_) out += k;
    std::vector<uint64_t> offsets;
    uint64_t next = 0;
    for (const auto& t : tensors_) {
      const uint64_t off = t.offset ? *t.offset : next;
      offsets.push_back(off);
      next = align(off + t.data.size());
      out += Enc::str(t.name) + Enc::u32(static_cast<uint32_t>(t.dims.size()));
      for (uint64_t d : t.dims) out += Enc::u64(d);
      out += Enc::u32(t.type) + Enc::u64(t.info_offset ? *t.info_offset : off);
    }
    for (const auto& r : raw_infos_) out += r;
    if (tensors_.empty()) return out;
    out.resize(align(out.size()), '\0');
    const size_t data_start = out.size();
    for (size_t k = 0; k < tensors_.size(); ++k) {
      const size_t at = data_start + offsets[k];
      if (out.size() < at) out.resize(at, '\0');
      if (out.size() == at) out += tensors_[k].data;  // a tensor whose offset overlaps others is not written
    }
    return out;
  }

 private:
  uint64_t align(uint64_t x) const { return (x + layout_alignment - 1) / layout_alignment * layout_alignment; }
  std::vector<std::string> kvs_;
  std::vector<Tensor> tensors_;
  std::vector<std::string> raw_infos_;
};

}  // namespace mtk::testing
