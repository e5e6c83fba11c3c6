// safetensors reader: header validation, memory mapping, sharded checkpoints (see safetensors.hpp).
#include "mtk/llm/safetensors.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>

#include "mtk/core/error.hpp"
#include "mtk/llm/quant.hpp"

namespace mtk::llm {

namespace {

namespace stdfs = std::filesystem;
using json = nlohmann::json;

constexpr const char* kMalformedFix =
    "the file is damaged, truncated or not a safetensors file: re-download it, or re-save the checkpoint with "
    "safetensors.torch.save_file / transformers save_pretrained";
constexpr const char* kIndexFix =
    "the checkpoint's shards do not match model.safetensors.index.json: re-download all of its files together";

struct DtypeEntry {
  SafeDtype type;
  const char* name;
  size_t size;
};
constexpr DtypeEntry kDtypes[] = {
    {SafeDtype::BOOL, "BOOL", 1},       {SafeDtype::U8, "U8", 1},           {SafeDtype::I8, "I8", 1},
    {SafeDtype::F8_E5M2, "F8_E5M2", 1}, {SafeDtype::F8_E4M3, "F8_E4M3", 1}, {SafeDtype::I16, "I16", 2},
    {SafeDtype::U16, "U16", 2},         {SafeDtype::F16, "F16", 2},         {SafeDtype::BF16, "BF16", 2},
    {SafeDtype::I32, "I32", 4},         {SafeDtype::U32, "U32", 4},         {SafeDtype::F32, "F32", 4},
    {SafeDtype::F64, "F64", 8},         {SafeDtype::I64, "I64", 8},         {SafeDtype::U64, "U64", 8},
};

bool host_is_little_endian() {
  const uint16_t one = 1;
  uint8_t b;
  std::memcpy(&b, &one, 1);
  return b == 1;
}

// Names and JSON snippets for messages: printable ASCII, cut at 80 bytes.
std::string printable(std::string_view s) {
  std::string out;
  for (char c : s.substr(0, 80)) out += (c >= 0x20 && c < 0x7f) ? c : '?';
  if (s.size() > 80) out += "...";
  return out;
}

std::string snippet(const json& j) {
  std::string s = j.dump(-1, ' ', true, json::error_handler_t::replace);
  return printable(s);
}

}  // namespace

const char* safe_dtype_name(SafeDtype t) {
  for (const auto& e : kDtypes)
    if (e.type == t) return e.name;
  return "?";
}

size_t safe_dtype_size(SafeDtype t) {
  for (const auto& e : kDtypes)
    if (e.type == t) return e.size;
  return 0;
}

bool parse_safe_dtype(std::string_view name, SafeDtype& out) {
  for (const auto& e : kDtypes)
    if (name == e.name) {
      out = e.type;
      return true;
    }
  return false;
}

void safetensor_to_f32(const SafeTensorInfo& t, float* dst) {
  const size_t n = static_cast<size_t>(t.n_elements);
  const uint8_t* src = t.data;
  switch (t.dtype) {
    case SafeDtype::F32:
      if (n) std::memcpy(dst, src, n * 4);
      return;
    case SafeDtype::F16:
      for (size_t k = 0; k < n; ++k) {
        uint16_t h;
        std::memcpy(&h, src + 2 * k, 2);
        dst[k] = fp16_to_fp32(h);
      }
      return;
    case SafeDtype::BF16:
      for (size_t k = 0; k < n; ++k) {
        uint16_t h;
        std::memcpy(&h, src + 2 * k, 2);
        dst[k] = bf16_to_fp32(h);
      }
      return;
    default:
      throw Error("unsupported dtype " + std::string(safe_dtype_name(t.dtype)) + " for tensor '" + printable(t.name) +
                      "'" + (t.file ? " in '" + *t.file + "'" : std::string()) + " (readable as float: F32, F16, BF16)",
                  "convert the checkpoint's floating-point weights to F32, F16 or BF16");
  }
}

std::vector<float> safetensor_to_f32(const SafeTensorInfo& t) {
  if (t.dtype != SafeDtype::F32 && t.dtype != SafeDtype::F16 && t.dtype != SafeDtype::BF16) {
    float dummy;
    safetensor_to_f32(t, &dummy);  // throws the unsupported-dtype error
  }
  std::vector<float> out(static_cast<size_t>(t.n_elements));
  safetensor_to_f32(t, out.data());
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// SafetensorsFile

struct SafetensorsFile::Storage {
  const uint8_t* data = nullptr;
  size_t size = 0;
  void* map = nullptr;
  size_t map_len = 0;
  std::unique_ptr<uint8_t[]> owned;  // from_bytes copy

  ~Storage() {
    if (map) munmap(map, map_len);
  }
};

SafetensorsFile::SafetensorsFile(SafetensorsFile&&) noexcept = default;
SafetensorsFile& SafetensorsFile::operator=(SafetensorsFile&&) noexcept = default;
SafetensorsFile::~SafetensorsFile() = default;

uint64_t SafetensorsFile::file_size() const { return storage_ ? storage_->size : 0; }

SafetensorsFile SafetensorsFile::open(const std::string& path) {
  const std::string fix = "check the path (a .safetensors file of a Hugging Face checkpoint)";
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw Error("cannot open safetensors file '" + path + "': " + std::strerror(errno), fix);
  struct stat st {};
  if (fstat(fd, &st) != 0) {
    const int e = errno;
    ::close(fd);
    throw Error("cannot stat safetensors file '" + path + "': " + std::strerror(e), fix);
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    throw Error("safetensors file '" + path + "' is not a regular file", fix);
  }
  SafetensorsFile f;
  f.path_ = std::make_unique<std::string>(path);
  f.storage_ = std::make_unique<Storage>();
  const size_t size = static_cast<size_t>(st.st_size);
  if (size > 0) {
    void* map = mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
    const int e = errno;
    ::close(fd);
    if (map == MAP_FAILED) throw Error("cannot map safetensors file '" + path + "': " + std::strerror(e), fix);
    f.storage_->map = map;
    f.storage_->map_len = size;
    f.storage_->data = static_cast<const uint8_t*>(map);
  } else {
    ::close(fd);
  }
  f.storage_->size = size;
  f.parse();
  return f;
}

SafetensorsFile SafetensorsFile::from_bytes(std::string_view bytes, const std::string& label) {
  SafetensorsFile f;
  f.path_ = std::make_unique<std::string>(label);
  f.storage_ = std::make_unique<Storage>();
  f.storage_->owned.reset(new uint8_t[bytes.empty() ? 1 : bytes.size()]);
  if (!bytes.empty()) std::memcpy(f.storage_->owned.get(), bytes.data(), bytes.size());
  f.storage_->data = f.storage_->owned.get();
  f.storage_->size = bytes.size();
  f.parse();
  return f;
}

const SafeTensorInfo* SafetensorsFile::find(std::string_view name) const {
  const auto it = index_.find(name);
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

const SafeTensorInfo& SafetensorsFile::tensor(std::string_view name) const {
  if (const SafeTensorInfo* t = find(name)) return *t;
  throw Error("safetensors file '" + path() + "' has no tensor '" + printable(name) + "'",
              "check the tensor name against the checkpoint (its architecture may differ from the expected one)");
}

void SafetensorsFile::parse() {
  const std::string& label = *path_;
  auto fail = [&](const std::string& what) -> void {
    throw Error("safetensors file '" + label + "': " + what, kMalformedFix);
  };
  if (!host_is_little_endian())
    throw Error("safetensors reader: big-endian hosts are not supported", "run on a little-endian machine");
  const uint64_t size = storage_->size;
  if (size < 8) fail("truncated: " + std::to_string(size) + " bytes, too short for the 8-byte header length");
  uint64_t n;
  std::memcpy(&n, storage_->data, 8);
  if (n > kMaxHeaderSize)
    fail("the header length " + std::to_string(n) + " is over the limit of " + std::to_string(kMaxHeaderSize) +
         " bytes (not a safetensors file?)");
  if (n > size - 8)
    fail("truncated: the header length is " + std::to_string(n) + " bytes but only " + std::to_string(size - 8) +
         " bytes follow it");
  if (n < 2) fail("the header is " + std::to_string(n) + " bytes long, too short for a JSON object");
  header_size_ = n;
  const char* hb = reinterpret_cast<const char*>(storage_->data + 8);
  if (hb[0] != '{') fail("the header does not start with '{' (not a safetensors file?)");

  // Parse, noting keys that repeat within one object (nlohmann keeps the last one silently).
  std::vector<std::set<std::string>> keys;
  std::string duplicate;
  json header;
  try {
    header = json::parse(
        hb, hb + n,
        [&](int, json::parse_event_t ev, json& parsed) {
          if (ev == json::parse_event_t::object_start) {
            keys.emplace_back();
          } else if (ev == json::parse_event_t::object_end) {
            if (!keys.empty()) keys.pop_back();
          } else if (ev == json::parse_event_t::key && !keys.empty() && duplicate.empty()) {
            if (parsed.is_string() && !keys.back().insert(parsed.get<std::string>()).second)
              duplicate = parsed.get<std::string>();
          }
          return true;
        },
        true);
  } catch (const json::exception& e) {
    fail(std::string("the JSON header does not parse: ") + e.what());
  }
  if (!duplicate.empty()) fail("the JSON header repeats the key '" + printable(duplicate) + "'");
  if (!header.is_object()) fail("the JSON header is not an object");

  const uint64_t data_size = size - 8 - n;
  const uint8_t* data = storage_->data + 8 + n;
  tensors_.reserve(header.size());
  for (auto it = header.begin(); it != header.end(); ++it) {
    const std::string& name = it.key();
    const json& v = it.value();
    if (name == "__metadata__") {
      if (!v.is_object()) fail("__metadata__ is not an object of strings but " + snippet(v));
      for (auto m = v.begin(); m != v.end(); ++m) {
        if (!m.value().is_string())
          fail("__metadata__ value '" + printable(m.key()) + "' is not a string but " + snippet(m.value()));
        metadata_[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    const std::string where = "tensor '" + printable(name) + "'";
    if (!v.is_object()) fail(where + " is not an object with dtype, shape and data_offsets but " + snippet(v));
    for (auto f = v.begin(); f != v.end(); ++f)
      if (f.key() != "dtype" && f.key() != "shape" && f.key() != "data_offsets")
        fail(where + " has an unexpected field '" + printable(f.key()) + "' (expected dtype, shape, data_offsets)");
    for (const char* field : {"dtype", "shape", "data_offsets"})
      if (!v.contains(field)) fail(where + " has no '" + field + "' field");

    SafeTensorInfo t;
    t.name = name;
    const json& dt = v["dtype"];
    if (!dt.is_string()) fail(where + ": dtype is not a string but " + snippet(dt));
    if (!parse_safe_dtype(dt.get_ref<const std::string&>(), t.dtype))
      fail(where + " has an unknown dtype \"" + printable(dt.get_ref<const std::string&>()) +
           "\" (known: BOOL U8 I8 F8_E5M2 F8_E4M3 I16 U16 F16 BF16 I32 U32 F32 F64 I64 U64)");

    const json& shape = v["shape"];
    if (!shape.is_array()) fail(where + ": shape is not an array but " + snippet(shape));
    uint64_t count = 1;
    bool overflow = false;
    for (const json& d : shape) {
      if (!d.is_number_unsigned())
        fail(where + ": shape " + snippet(shape) + " holds something other than a non-negative integer");
      const uint64_t dim = d.get<uint64_t>();
      t.shape.push_back(dim);
      if (dim != 0 && count > std::numeric_limits<uint64_t>::max() / dim)
        overflow = true;
      else
        count *= dim;
    }
    if (std::find(t.shape.begin(), t.shape.end(), 0) != t.shape.end()) {
      count = 0;
      overflow = false;
    }
    const uint64_t esize = safe_dtype_size(t.dtype);
    if (overflow || count > std::numeric_limits<uint64_t>::max() / esize)
      fail(where + ": shape " + snippet(shape) + " has more elements than fit in 64 bits");
    t.n_elements = count;

    const json& off = v["data_offsets"];
    if (!off.is_array() || off.size() != 2 || !off[0].is_number_unsigned() || !off[1].is_number_unsigned())
      fail(where + ": data_offsets is not [begin, end] with non-negative integers but " + snippet(off));
    t.begin = off[0].get<uint64_t>();
    t.end = off[1].get<uint64_t>();
    if (t.end < t.begin)
      fail(where + ": data_offsets [" + std::to_string(t.begin) + ", " + std::to_string(t.end) +
           "] end before they begin");
    if (t.end > data_size)
      fail(where + ": data_offsets [" + std::to_string(t.begin) + ", " + std::to_string(t.end) +
           "] reach past the end of the data (" + std::to_string(data_size) + " bytes; the file is truncated?)");
    if (t.end - t.begin != count * esize)
      fail(where + ": shape " + snippet(shape) + " of " + safe_dtype_name(t.dtype) + " needs " +
           std::to_string(count * esize) + " bytes but data_offsets [" + std::to_string(t.begin) + ", " +
           std::to_string(t.end) + "] span " + std::to_string(t.end - t.begin));
    t.data = data + t.begin;
    t.file = path_.get();
    tensors_.push_back(std::move(t));
  }

  std::stable_sort(tensors_.begin(), tensors_.end(), [](const SafeTensorInfo& a, const SafeTensorInfo& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  // Overlaps: sorted by begin, each non-empty tensor must start at or after the furthest end so far.
  uint64_t furthest = 0;
  const SafeTensorInfo* owner = nullptr;
  for (const SafeTensorInfo& t : tensors_) {
    if (t.n_bytes() == 0) continue;
    if (owner && t.begin < furthest)
      fail("tensors '" + printable(owner->name) + "' [" + std::to_string(owner->begin) + ", " +
           std::to_string(owner->end) + ") and '" + printable(t.name) + "' [" + std::to_string(t.begin) + ", " +
           std::to_string(t.end) + ") overlap in the data");
    if (t.end > furthest) {
      furthest = t.end;
      owner = &t;
    }
  }
  for (size_t k = 0; k < tensors_.size(); ++k) index_.emplace(tensors_[k].name, k);
}

// ---------------------------------------------------------------------------------------------------------------
// SafetensorsModel

SafetensorsModel SafetensorsModel::from_file(SafetensorsFile file) {
  SafetensorsModel m;
  m.add_shard(std::move(file));
  return m;
}

void SafetensorsModel::add_shard(SafetensorsFile f) {
  shards_.push_back(std::move(f));
  const SafetensorsFile& s = shards_.back();
  for (const SafeTensorInfo& t : s.tensors()) {
    const auto [it, fresh] = index_.emplace(t.name, &t);
    if (!fresh)
      throw Error(
          "tensor '" + printable(t.name) + "' is in two shards: '" + *it->second->file + "' and '" + s.path() + "'",
          kIndexFix);
  }
}

SafetensorsModel SafetensorsModel::open(const std::string& path) {
  std::error_code ec;
  if (stdfs::is_directory(path, ec)) {
    const stdfs::path dir(path);
    if (stdfs::is_regular_file(dir / kSingleFile, ec))
      return from_file(SafetensorsFile::open((dir / kSingleFile).string()));
    if (stdfs::is_regular_file(dir / kIndexFile, ec)) return open_index((dir / kIndexFile).string());
    throw Error("'" + path + "' has no " + kSingleFile + " and no " + kIndexFile,
                "point at a Hugging Face model directory with safetensors weights (PyTorch .bin checkpoints are not "
                "read: convert them with safetensors' convert script)");
  }
  if (path.size() >= 5 && path.compare(path.size() - 5, 5, ".json") == 0) return open_index(path);
  return from_file(SafetensorsFile::open(path));
}

SafetensorsModel SafetensorsModel::open_index(const std::string& index_path) {
  auto fail = [&](const std::string& what) -> void {
    throw Error("safetensors index '" + index_path + "': " + what, kIndexFix);
  };
  std::string text;
  {
    std::error_code ec;
    if (!stdfs::is_regular_file(index_path, ec))
      throw Error("cannot open safetensors index '" + index_path + "'", "check the path");
    const auto size = stdfs::file_size(index_path, ec);
    if (ec || size > SafetensorsFile::kMaxHeaderSize) fail("unreadable or over 100 MB");
    FILE* fp = std::fopen(index_path.c_str(), "rb");
    if (!fp)
      throw Error("cannot open safetensors index '" + index_path + "': " + std::strerror(errno), "check the path");
    text.resize(static_cast<size_t>(size));
    const size_t got = text.empty() ? 0 : std::fread(&text[0], 1, text.size(), fp);
    std::fclose(fp);
    text.resize(got);
  }
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {
    fail(std::string("not valid JSON: ") + e.what());
  }
  if (!j.is_object() || !j.contains("weight_map") || !j["weight_map"].is_object())
    fail("no \"weight_map\" object (tensor name -> shard file)");
  SafetensorsModel m;
  m.index_path_ = index_path;
  if (j.contains("metadata") && j["metadata"].is_object())
    for (auto it = j["metadata"].begin(); it != j["metadata"].end(); ++it)
      m.index_metadata_[it.key()] = it.value().is_string() ? it.value().get<std::string>() : it.value().dump();

  const json& wm = j["weight_map"];
  std::map<std::string, std::string> want;  // tensor -> shard
  std::vector<std::string> shard_names;     // in first-mention order
  std::set<std::string> seen;
  for (auto it = wm.begin(); it != wm.end(); ++it) {
    if (!it.value().is_string())
      fail("weight_map entry '" + printable(it.key()) + "' is not a file name but " + snippet(it.value()));
    const std::string& shard = it.value().get_ref<const std::string&>();
    const stdfs::path sp(shard);
    if (shard.empty() || sp.is_absolute() ||
        std::any_of(sp.begin(), sp.end(), [](const stdfs::path& p) { return p == ".."; }))
      fail("weight_map entry '" + printable(it.key()) + "' names the shard \"" + printable(shard) +
           "\", which is not a file beside the index");
    want[it.key()] = shard;
    if (seen.insert(shard).second) shard_names.push_back(shard);
  }
  if (shard_names.empty()) fail("the weight_map is empty");
  const stdfs::path dir = stdfs::path(index_path).parent_path();
  for (const std::string& shard : shard_names) {
    const stdfs::path p = dir / shard;
    std::error_code ec;
    if (!stdfs::is_regular_file(p, ec))
      throw Error("safetensors index '" + index_path + "' names the shard '" + shard + "', which is missing (" +
                      p.string() + ")",
                  "download every shard listed in model.safetensors.index.json");
    m.add_shard(SafetensorsFile::open(p.string()));
  }
  for (const auto& [name, shard] : want) {
    const SafeTensorInfo* t = m.find(name);
    if (!t) fail("tensor '" + printable(name) + "' is mapped to '" + shard + "' but is in no shard");
    if (*t->file != (dir / shard).string())
      fail("tensor '" + printable(name) + "' is mapped to '" + shard + "' but is in '" + *t->file + "'");
  }
  for (const auto& [name, t] : m.index_)
    if (!want.count(name)) fail("tensor '" + printable(name) + "' in '" + *t->file + "' is not in the weight_map");
  return m;
}

std::vector<const SafeTensorInfo*> SafetensorsModel::tensors() const {
  std::vector<const SafeTensorInfo*> out;
  out.reserve(index_.size());
  for (const auto& [name, t] : index_) out.push_back(t);
  return out;
}

const SafeTensorInfo* SafetensorsModel::find(std::string_view name) const {
  const auto it = index_.find(name);
  return it == index_.end() ? nullptr : it->second;
}

const SafeTensorInfo& SafetensorsModel::tensor(std::string_view name) const {
  if (const SafeTensorInfo* t = find(name)) return *t;
  throw Error("the checkpoint" + (shards_.empty() ? std::string() : " '" + shards_.front().path() + "'") +
                  (shards_.size() > 1 ? " (and its other shards)" : "") + " has no tensor '" + printable(name) + "'",
              "check that the model's architecture matches its weights (config.json)");
}

}  // namespace mtk::llm
