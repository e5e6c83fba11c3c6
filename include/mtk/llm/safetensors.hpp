#pragma once
// Reader for safetensors files (Hugging Face checkpoints), memory-mapped, every field validated.
//
// The format, as this reader understands it:
//
//   u64        N, the header length in bytes (little-endian)
//   header     N bytes of UTF-8 JSON, one object (writers pad it with trailing spaces to a multiple
//              of 8 bytes):
//                { "__metadata__": {"format": "pt", ...}          optional, string -> string
//                  "<tensor name>": {"dtype": "F32",
//                                    "shape": [rows, cols],       row-major, last axis fastest;
//                                                                 [] is a scalar (1 element)
//                                    "data_offsets": [begin, end]},   bytes, relative to the data
//                  ... }
//   data       the tensors' bytes back to back, little-endian, no alignment guaranteed.
//
// dtypes: BOOL U8 I8 F8_E5M2 F8_E4M3 I16 U16 F16 BF16 I32 U32 F32 F64 I64 U64 are recognised;
// to_f32() decodes F32, F16 and BF16 (the others throw "unsupported dtype").
//
// Checks on top of the format (each failure is an mtk::Error naming the file, the tensor and the
// fix): header length within the file and at most kMaxHeaderSize; the header is one JSON object
// without duplicate keys; every tensor entry has exactly dtype/shape/data_offsets of the right
// JSON types; a known dtype; non-negative integer dims whose element and byte counts do not
// overflow and whose byte count equals end - begin; begin <= end <= data size; no two tensors'
// byte ranges overlap. Gaps between tensors and unused bytes at the end are tolerated.
//
// Sharded checkpoints: "model.safetensors.index.json" = {"metadata": {...}, "weight_map":
// {"<tensor>": "model-00001-of-00002.safetensors", ...}}. SafetensorsModel opens every shard it
// names and checks that each tensor is in the shard the map says, that no tensor is in two shards
// and that every tensor of every shard is in the map.
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace mtk::llm {

enum class SafeDtype : uint8_t { BOOL, U8, I8, F8_E5M2, F8_E4M3, I16, U16, F16, BF16, I32, U32, F32, F64, I64, U64 };

const char* safe_dtype_name(SafeDtype t);
size_t safe_dtype_size(SafeDtype t);  // bytes per element
// The dtype for its name in a header ("F32", "BF16", ...); false for an unknown name.
bool parse_safe_dtype(std::string_view name, SafeDtype& out);

struct SafeTensorInfo {
  std::string name;
  SafeDtype dtype = SafeDtype::F32;
  std::vector<uint64_t> shape;  // as in the file: shape.back() is the fastest-varying axis
  uint64_t begin = 0, end = 0;  // byte range within the data section
  uint64_t n_elements = 0;
  const uint8_t* data = nullptr;      // into the file's bytes (end - begin long); lives with the file
  const std::string* file = nullptr;  // the file (or label) the tensor lives in, for messages

  uint64_t n_bytes() const { return end - begin; }
};

// Decodes a tensor to float32 (F32, F16, BF16 exactly); other dtypes throw mtk::Error naming the
// tensor. The second form writes n_elements floats to dst.
std::vector<float> safetensor_to_f32(const SafeTensorInfo& t);
void safetensor_to_f32(const SafeTensorInfo& t, float* dst);

class SafetensorsFile {
 public:
  static constexpr uint64_t kMaxHeaderSize = 100'000'000;  // as the reference implementation

  // Maps the file read-only and parses its header; throws mtk::Error naming the file and the fix.
  static SafetensorsFile open(const std::string& path);
  // Parses an in-memory image (copied); `label` names it in error messages.
  static SafetensorsFile from_bytes(std::string_view bytes, const std::string& label = "<memory>");

  SafetensorsFile(SafetensorsFile&&) noexcept;
  SafetensorsFile& operator=(SafetensorsFile&&) noexcept;
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;
  ~SafetensorsFile();

  const std::string& path() const { return *path_; }
  uint64_t file_size() const;
  uint64_t header_size() const { return header_size_; }  // N
  uint64_t data_offset() const { return 8 + header_size_; }

  // Tensors in the order of their bytes in the file.
  const std::vector<SafeTensorInfo>& tensors() const { return tensors_; }
  const SafeTensorInfo* find(std::string_view name) const;                          // nullptr when absent
  const SafeTensorInfo& tensor(std::string_view name) const;                        // throws when absent
  const std::map<std::string, std::string>& metadata() const { return metadata_; }  // __metadata__

  std::string_view bytes(const SafeTensorInfo& t) const {
    return {reinterpret_cast<const char*>(t.data), static_cast<size_t>(t.n_bytes())};
  }
  std::vector<float> to_f32(const SafeTensorInfo& t) const { return safetensor_to_f32(t); }

 private:
  struct Storage;
  SafetensorsFile() = default;
  void parse();

  std::unique_ptr<Storage> storage_;
  std::unique_ptr<std::string> path_;  // stable address: SafeTensorInfo::file points at it
  uint64_t header_size_ = 0;
  std::vector<SafeTensorInfo> tensors_;
  std::map<std::string, size_t, std::less<>> index_;
  std::map<std::string, std::string> metadata_;
};

// The tensors of a checkpoint: one .safetensors file, or the shards of an index.
class SafetensorsModel {
 public:
  static constexpr const char* kSingleFile = "model.safetensors";
  static constexpr const char* kIndexFile = "model.safetensors.index.json";

  // `path` is a .safetensors file, an index .json file, or a directory holding model.safetensors
  // or model.safetensors.index.json (the single file wins when both exist).
  static SafetensorsModel open(const std::string& path);
  // Opens the shards an index names (relative to the index's directory) and checks them against it.
  static SafetensorsModel open_index(const std::string& index_path);
  // One file already open.
  static SafetensorsModel from_file(SafetensorsFile file);

  SafetensorsModel() = default;
  SafetensorsModel(SafetensorsModel&&) noexcept = default;
  SafetensorsModel& operator=(SafetensorsModel&&) noexcept = default;

  const std::vector<SafetensorsFile>& shards() const { return shards_; }
  const std::string& index_path() const { return index_path_; }  // empty for a single file
  size_t size() const { return index_.size(); }
  bool empty() const { return index_.empty(); }
  // Every tensor, ordered by name.
  std::vector<const SafeTensorInfo*> tensors() const;
  const SafeTensorInfo* find(std::string_view name) const;    // nullptr when absent
  const SafeTensorInfo& tensor(std::string_view name) const;  // throws when absent
  std::vector<float> to_f32(std::string_view name) const { return safetensor_to_f32(tensor(name)); }
  // The index's "metadata" object as strings (e.g. total_size); empty for a single file.
  const std::map<std::string, std::string>& index_metadata() const { return index_metadata_; }

 private:
  void add_shard(SafetensorsFile f);

  std::vector<SafetensorsFile> shards_;
  std::map<std::string, const SafeTensorInfo*, std::less<>> index_;
  std::string index_path_;
  std::map<std::string, std::string> index_metadata_;
};

}  // namespace mtk::llm
