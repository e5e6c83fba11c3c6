#pragma once
// Reader for GGUF model files (versions 2 and 3), memory-mapped, every read bounds-checked.
//
// The format, as this reader understands it (all integers little-endian):
//
//   header     "GGUF" magic (4 bytes), u32 version, u64 tensor_count, u64 metadata_kv_count.
//              (Version 1 used u32 counts and is refused; a byte-swapped version marks a
//              big-endian file, also refused.)
//   metadata   metadata_kv_count entries: key (a string), u32 value type, value.
//              A string is a u64 byte length followed by that many bytes (UTF-8, no NUL).
//              Value types: 0 u8, 1 i8, 2 u16, 3 i16, 4 u32, 5 i32, 6 f32, 7 bool (one byte,
//              0 or 1), 8 string, 9 array, 10 u64, 11 i64, 12 f64. An array is u32 element type,
//              u64 count, then the elements back to back; its elements may themselves be arrays.
//   tensors    tensor_count entries: name (a string), u32 n_dims (at most 4), u64 dims[n_dims]
//              with dims[0] the fastest-varying axis (the row length), u32 ggml type, u64 offset
//              of the tensor's bytes relative to the start of the data section.
//   padding    zero bytes up to the next multiple of the alignment: the metadata value
//              "general.alignment" (u32, a power of two) or 32 when absent.
//   data       the tensors' bytes. Each tensor's offset is a multiple of the alignment; its size
//              is dims[0]/block_size * type_size bytes per row times the number of rows.
//
// Limits enforced here on top of the format: keys and strings are checked against the bytes left
// in the file before anything is allocated (so hostile counts cannot cause huge allocations).
// Errors: duplicate keys or tensor names; empty keys or keys over 65535 bytes; empty tensor names
// or names over 63 bytes (ggml's limit); unknown value or ggml types; arrays nested deeper than
// kMaxArrayDepth or holding more than 2^20 nested arrays in all; bools other than 0/1; dimensions
// whose element or byte count overflows; rows that do not fill whole quant blocks; misaligned
// offsets; tensors that extend past the end of the file.
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "mtk/llm/quant.hpp"

namespace mtk::llm {

enum class GgufType : uint32_t {
  U8 = 0,
  I8 = 1,
  U16 = 2,
  I16 = 3,
  U32 = 4,
  I32 = 5,
  F32 = 6,
  Bool = 7,
  String = 8,
  Array = 9,
  U64 = 10,
  I64 = 11,
  F64 = 12,
};
const char* gguf_type_name(GgufType t);

// One metadata value. Views point into the file's bytes and live as long as the GgufFile.
struct GgufValue {
  GgufType type = GgufType::U8;
  // Scalars: integers in `u` (unsigned) or `i` (signed), floats in `f`, bool in `u` (0/1).
  uint64_t u = 0;
  int64_t i = 0;
  double f = 0.0;
  std::string_view str;  // String

  // Array: element type and count; elements are stored by kind:
  GgufType elem_type = GgufType::U8;
  uint64_t count = 0;
  std::string_view raw;                   // scalar elements, packed little-endian as in the file
  std::vector<std::string_view> strings;  // string elements
  std::vector<GgufValue> items;           // array elements (nested arrays)

  bool is_integer() const;
  bool is_float() const { return type == GgufType::F32 || type == GgufType::F64; }
  // Element k (< count, unchecked) of an array of scalars, converted; floats saturate.
  int64_t int_at(uint64_t k) const;
  double float_at(uint64_t k) const;
};

struct GgufTensor {
  std::string name;
  std::vector<uint64_t> dims;  // dims[0] is the row length
  GgmlType type = GgmlType::F32;
  uint64_t offset = 0;  // relative to the data section
  uint64_t n_elements = 0;
  uint64_t n_bytes = 0;
  const uint8_t* data = nullptr;  // into the mapping, n_bytes long

  uint64_t row_length() const { return dims.empty() ? 1 : dims[0]; }
  uint64_t n_rows() const { return row_length() == 0 ? 0 : n_elements / row_length(); }
};

class GgufFile {
 public:
  static constexpr uint32_t kDefaultAlignment = 32;
  static constexpr size_t kMaxNameLength = 63;
  static constexpr int kMaxArrayDepth = 8;

  // Maps the file read-only and parses it; throws mtk::Error naming the file and the problem.
  static GgufFile open(const std::string& path);
  // Parses an in-memory image (copied); `label` names it in error messages.
  static GgufFile from_bytes(std::string_view bytes, const std::string& label = "<memory>");

  GgufFile(GgufFile&&) noexcept;
  GgufFile& operator=(GgufFile&&) noexcept;
  GgufFile(const GgufFile&) = delete;
  GgufFile& operator=(const GgufFile&) = delete;
  ~GgufFile();

  const std::string& path() const { return path_; }
  uint32_t version() const { return version_; }
  uint32_t alignment() const { return alignment_; }
  uint64_t data_offset() const { return data_offset_; }  // start of the data section in the file
  uint64_t file_size() const;
  const uint8_t* bytes() const;  // the whole file

  // Metadata, in file order.
  const std::vector<std::pair<std::string, GgufValue>>& metadata() const { return kv_; }
  const GgufValue* find(const std::string& key) const;  // nullptr when absent
  bool has(const std::string& key) const { return find(key) != nullptr; }
  // Typed getters. Integers of any width convert when the value fits; f32/f64 both read as
  // float. A missing key or a wrong type throws mtk::Error naming the key; the overloads with a
  // default return it for a missing key (a present key of the wrong type still throws).
  uint32_t get_u32(const std::string& key) const;
  uint32_t get_u32(const std::string& key, uint32_t dflt) const;
  uint64_t get_u64(const std::string& key) const;
  uint64_t get_u64(const std::string& key, uint64_t dflt) const;
  int64_t get_i64(const std::string& key) const;
  int64_t get_i64(const std::string& key, int64_t dflt) const;
  float get_f32(const std::string& key) const;
  float get_f32(const std::string& key, float dflt) const;
  bool get_bool(const std::string& key) const;
  bool get_bool(const std::string& key, bool dflt) const;
  std::string get_string(const std::string& key) const;
  std::string get_string(const std::string& key, const std::string& dflt) const;
  std::vector<std::string> get_strings(const std::string& key) const;  // array of strings
  std::vector<float> get_floats(const std::string& key) const;         // array of f32/f64
  std::vector<int64_t> get_ints(const std::string& key) const;         // array of any integers
  uint64_t get_array_size(const std::string& key) const;

  // Tensors, in file order.
  const std::vector<GgufTensor>& tensors() const { return tensors_; }
  const GgufTensor* find_tensor(const std::string& name) const;  // nullptr when absent
  const GgufTensor& tensor(const std::string& name) const;       // throws when absent

 private:
  struct Storage;
  GgufFile() = default;
  void parse();
  const GgufValue& require(const std::string& key, const char* wanted) const;
  [[noreturn]] void type_error(const std::string& key, const GgufValue& v, const char* wanted) const;

  std::unique_ptr<Storage> storage_;
  std::string path_;
  uint32_t version_ = 0;
  uint32_t alignment_ = kDefaultAlignment;
  uint64_t data_offset_ = 0;
  std::vector<std::pair<std::string, GgufValue>> kv_;
  std::map<std::string, size_t, std::less<>> kv_index_;
  std::vector<GgufTensor> tensors_;
  std::map<std::string, size_t, std::less<>> tensor_index_;
};

// Dequantises a whole tensor to float32 (row-parallel for big tensors).
std::vector<float> dequantize_tensor(const GgufTensor& t, unsigned threads = 0);

}  // namespace mtk::llm
