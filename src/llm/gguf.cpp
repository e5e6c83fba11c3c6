#include "mtk/llm/gguf.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <limits>
#include <utility>

#include "mtk/core/error.hpp"

namespace mtk::llm {

static_assert(sizeof(float) == 4 && sizeof(double) == 8, "IEEE float sizes expected");

namespace {

constexpr const char* kMalformedFix =
    "the file is damaged, truncated or not a GGUF model: re-download it (scripts/fetch_models.sh for the "
    "project's models) or re-convert it with llama.cpp's convert_hf_to_gguf.py";
constexpr const char* kMetadataFix =
    "the model's metadata lacks what this program needs: use a GGUF converted by a current llama.cpp";
constexpr uint64_t kMaxKeyLength = 65535;
// Nested arrays are rare in real files; bounding their total element count bounds the memory a
// hostile file can make the parser use per byte.
constexpr uint64_t kMaxNestedItems = 1u << 20;

bool host_is_little_endian() {
  const uint16_t one = 1;
  uint8_t b;
  std::memcpy(&b, &one, 1);
  return b == 1;
}

size_t scalar_size(GgufType t) {
  switch (t) {
    case GgufType::U8:
    case GgufType::I8:
    case GgufType::Bool:
      return 1;
    case GgufType::U16:
    case GgufType::I16:
      return 2;
    case GgufType::U32:
    case GgufType::I32:
    case GgufType::F32:
      return 4;
    case GgufType::U64:
    case GgufType::I64:
    case GgufType::F64:
      return 8;
    default:
      return 0;  // string, array
  }
}

bool known_value_type(uint32_t t) { return t <= static_cast<uint32_t>(GgufType::F64); }

// Reads little-endian fields from a byte range; every read is checked against its end.
class Cursor {
 public:
  Cursor(const uint8_t* base, size_t size, const std::string& label) : base_(base), size_(size), label_(label) {}

  static std::string text(const char* s) { return s; }
  static std::string text(const std::string& s) { return s; }
  template <class F, class = decltype(std::declval<const F&>()())>
  static std::string text(const F& f) {
    return f();
  }

  size_t pos() const { return pos_; }
  size_t left() const { return size_ - pos_; }

  [[noreturn]] void fail(const std::string& what) const { fail_at(pos_, what); }
  [[noreturn]] void fail_at(size_t at, const std::string& what) const {
    throw Error("GGUF file '" + label_ + "': " + what + " (at byte " + std::to_string(at) + ")", kMalformedFix);
  }

  // `what` is a const char*, a std::string or a callable returning one (built only on failure).
  template <class W>
  void need(uint64_t n, const W& what) const {
    if (n > left())
      fail("truncated: " + text(what) + " needs " + std::to_string(n) + " bytes but only " + std::to_string(left()) +
           " remain");
  }

  template <class T>
  T read(const char* what) {
    need(sizeof(T), what);
    T v;
    std::memcpy(&v, base_ + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }

  template <class W>
  std::string_view bytes(uint64_t n, const W& what) {
    need(n, what);
    std::string_view v(reinterpret_cast<const char*>(base_ + pos_), static_cast<size_t>(n));
    pos_ += static_cast<size_t>(n);
    return v;
  }

  template <class W>
  std::string_view string(const W& what, uint64_t max_len = std::numeric_limits<uint64_t>::max()) {
    const size_t at = pos_;
    if (left() < 8)
      fail("truncated: the length of " + text(what) + " needs 8 bytes but only " + std::to_string(left()) + " remain");
    const uint64_t len = read<uint64_t>("string length");
    if (len > max_len)
      fail_at(at, text(what) + " is " + std::to_string(len) + " bytes long, the limit is " + std::to_string(max_len));
    if (len > left())
      fail_at(at, text(what) + " claims " + std::to_string(len) + " bytes but only " + std::to_string(left()) +
                      " remain in the file");
    return bytes(len, "string");
  }

 private:
  const uint8_t* base_;
  size_t size_;
  size_t pos_ = 0;
  const std::string& label_;
};

std::string printable(std::string_view s) {
  std::string out;
  for (char c : s.substr(0, 80)) out += (c >= 0x20 && c < 0x7f) ? c : '?';
  if (s.size() > 80) out += "...";
  return out;
}

class Parser {
 public:
  Parser(Cursor& c) : c_(c) {}

  GgufValue value(GgufType type, const std::string& key, int depth) {
    GgufValue v;
    v.type = type;
    switch (type) {
      case GgufType::U8:
        v.u = c_.read<uint8_t>(key.c_str());
        break;
      case GgufType::I8:
        v.i = c_.read<int8_t>(key.c_str());
        break;
      case GgufType::U16:
        v.u = c_.read<uint16_t>(key.c_str());
        break;
      case GgufType::I16:
        v.i = c_.read<int16_t>(key.c_str());
        break;
      case GgufType::U32:
        v.u = c_.read<uint32_t>(key.c_str());
        break;
      case GgufType::I32:
        v.i = c_.read<int32_t>(key.c_str());
        break;
      case GgufType::U64:
        v.u = c_.read<uint64_t>(key.c_str());
        break;
      case GgufType::I64:
        v.i = c_.read<int64_t>(key.c_str());
        break;
      case GgufType::F32:
        v.f = c_.read<float>(key.c_str());
        break;
      case GgufType::F64:
        v.f = c_.read<double>(key.c_str());
        break;
      case GgufType::Bool: {
        const uint8_t b = c_.read<uint8_t>(key.c_str());
        if (b > 1) c_.fail_at(c_.pos() - 1, "bool value of '" + key + "' is " + std::to_string(b) + ", not 0 or 1");
        v.u = b;
        break;
      }
      case GgufType::String:
        v.str = c_.string([&] { return "string value of '" + key + "'"; });
        break;
      case GgufType::Array:
        array(v, key, depth + 1);
        break;
    }
    return v;
  }

 private:
  void array(GgufValue& v, const std::string& key, int depth) {
    if (depth > GgufFile::kMaxArrayDepth)
      c_.fail("array value of '" + key + "' is nested more than " + std::to_string(GgufFile::kMaxArrayDepth) +
              " levels deep");
    const size_t at = c_.pos();
    const uint32_t et = c_.read<uint32_t>("array element type");
    if (!known_value_type(et)) c_.fail_at(at, "array '" + key + "' has unknown element type " + std::to_string(et));
    v.elem_type = static_cast<GgufType>(et);
    const size_t count_at = c_.pos();
    v.count = c_.read<uint64_t>("array element count");
    const size_t esz = scalar_size(v.elem_type);
    // Smallest possible encoding of one element: a scalar's size, a string's length field, or a
    // nested array's type and count fields.
    const uint64_t min_elem = esz ? esz : (v.elem_type == GgufType::String ? 8 : 12);
    if (v.count > c_.left() / min_elem)
      c_.fail_at(count_at, "array '" + key + "' claims " + std::to_string(v.count) + " elements of type " +
                               gguf_type_name(v.elem_type) + ", more than the " + std::to_string(c_.left()) +
                               " bytes left can hold");
    if (esz) {
      v.raw = c_.bytes(v.count * esz, [&] { return "array '" + key + "'"; });
      if (v.elem_type == GgufType::Bool)
        for (size_t k = 0; k < v.raw.size(); ++k)
          if (static_cast<uint8_t>(v.raw[k]) > 1)
            c_.fail_at(c_.pos() - v.raw.size() + k,
                       "bool element " + std::to_string(k) + " of '" + key + "' is not 0 or 1");
    } else if (v.elem_type == GgufType::String) {
      v.strings.reserve(static_cast<size_t>(v.count));
      for (uint64_t k = 0; k < v.count; ++k)
        v.strings.push_back(c_.string([&] { return "string element " + std::to_string(k) + " of '" + key + "'"; }));
    } else {
      nested_items_ += v.count;
      if (nested_items_ > kMaxNestedItems)
        c_.fail_at(count_at, "nested arrays hold more than " + std::to_string(kMaxNestedItems) + " elements in all");
      v.items.reserve(static_cast<size_t>(v.count));
      for (uint64_t k = 0; k < v.count; ++k) v.items.push_back(value(GgufType::Array, key, depth));
    }
  }

  Cursor& c_;
  uint64_t nested_items_ = 0;
};

bool as_u64(const GgufValue& v, uint64_t& out) {
  if (!v.is_integer()) return false;
  switch (v.type) {
    case GgufType::I8:
    case GgufType::I16:
    case GgufType::I32:
    case GgufType::I64:
      if (v.i < 0) return false;
      out = static_cast<uint64_t>(v.i);
      return true;
    default:
      out = v.u;
      return true;
  }
}

bool as_i64(const GgufValue& v, int64_t& out) {
  if (!v.is_integer()) return false;
  switch (v.type) {
    case GgufType::U8:
    case GgufType::U16:
    case GgufType::U32:
    case GgufType::U64:
      if (v.u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return false;
      out = static_cast<int64_t>(v.u);
      return true;
    default:
      out = v.i;
      return true;
  }
}

// double -> float without undefined behaviour for values beyond float's range.
float narrow(double d) {
  if (d > std::numeric_limits<float>::max()) return std::numeric_limits<float>::infinity();
  if (d < -std::numeric_limits<float>::max()) return -std::numeric_limits<float>::infinity();
  return static_cast<float>(d);
}

// Float -> int64 saturating (NaN -> 0).
int64_t saturate(double d) {
  if (std::isnan(d)) return 0;
  if (d >= 9223372036854775808.0) return std::numeric_limits<int64_t>::max();
  if (d <= -9223372036854775808.0) return std::numeric_limits<int64_t>::min();
  return static_cast<int64_t>(d);
}

std::string describe_type(const GgufValue& v) {
  std::string s = gguf_type_name(v.type);
  if (v.type == GgufType::Array) s += std::string(" of ") + gguf_type_name(v.elem_type);
  return s;
}

}  // namespace

const char* gguf_type_name(GgufType t) {
  switch (t) {
    case GgufType::U8:
      return "u8";
    case GgufType::I8:
      return "i8";
    case GgufType::U16:
      return "u16";
    case GgufType::I16:
      return "i16";
    case GgufType::U32:
      return "u32";
    case GgufType::I32:
      return "i32";
    case GgufType::F32:
      return "f32";
    case GgufType::Bool:
      return "bool";
    case GgufType::String:
      return "string";
    case GgufType::Array:
      return "array";
    case GgufType::U64:
      return "u64";
    case GgufType::I64:
      return "i64";
    case GgufType::F64:
      return "f64";
  }
  return "?";
}

bool GgufValue::is_integer() const {
  switch (type) {
    case GgufType::U8:
    case GgufType::I8:
    case GgufType::U16:
    case GgufType::I16:
    case GgufType::U32:
    case GgufType::I32:
    case GgufType::U64:
    case GgufType::I64:
      return true;
    default:
      return false;
  }
}

int64_t GgufValue::int_at(uint64_t k) const {
  const char* p = raw.data() + k * scalar_size(elem_type);
  auto ld = [p](auto v) {
    std::memcpy(&v, p, sizeof(v));
    return v;
  };
  switch (elem_type) {
    case GgufType::U8:
      return ld(uint8_t{});
    case GgufType::I8:
      return ld(int8_t{});
    case GgufType::U16:
      return ld(uint16_t{});
    case GgufType::I16:
      return ld(int16_t{});
    case GgufType::U32:
      return ld(uint32_t{});
    case GgufType::I32:
      return ld(int32_t{});
    case GgufType::U64:
      return static_cast<int64_t>(ld(uint64_t{}));
    case GgufType::I64:
      return ld(int64_t{});
    case GgufType::Bool:
      return ld(uint8_t{});
    case GgufType::F32:
      return saturate(ld(float{}));
    case GgufType::F64:
      return saturate(ld(double{}));
    default:
      return 0;
  }
}

double GgufValue::float_at(uint64_t k) const {
  const char* p = raw.data() + k * scalar_size(elem_type);
  if (elem_type == GgufType::F32) {
    float f;
    std::memcpy(&f, p, 4);
    return f;
  }
  if (elem_type == GgufType::F64) {
    double d;
    std::memcpy(&d, p, 8);
    return d;
  }
  return static_cast<double>(int_at(k));
}

// ---------------------------------------------------------------------------------------------

struct GgufFile::Storage {
  const uint8_t* data = nullptr;
  size_t size = 0;
  void* map = nullptr;  // mmap'ed file
  size_t map_len = 0;
  std::unique_ptr<uint8_t[]> owned;  // from_bytes copy

  ~Storage() {
    if (map) munmap(map, map_len);
  }
};

GgufFile::GgufFile(GgufFile&&) noexcept = default;
GgufFile& GgufFile::operator=(GgufFile&&) noexcept = default;
GgufFile::~GgufFile() = default;

uint64_t GgufFile::file_size() const { return storage_ ? storage_->size : 0; }
const uint8_t* GgufFile::bytes() const { return storage_ ? storage_->data : nullptr; }

GgufFile GgufFile::open(const std::string& path) {
  const std::string fix = "check the path; the project's models are fetched with scripts/fetch_models.sh";
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw Error("cannot open model file '" + path + "': " + std::strerror(errno), fix);
  struct stat st {};
  if (fstat(fd, &st) != 0) {
    const int e = errno;
    ::close(fd);
    throw Error("cannot stat model file '" + path + "': " + std::strerror(e), fix);
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    throw Error("model file '" + path + "' is not a regular file", fix);
  }
  if (st.st_size == 0) {
    ::close(fd);
    throw Error("GGUF file '" + path + "' is empty", kMalformedFix);
  }
  const size_t size = static_cast<size_t>(st.st_size);
  void* map = mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  const int e = errno;
  ::close(fd);
  if (map == MAP_FAILED) throw Error("cannot memory-map model file '" + path + "': " + std::strerror(e), fix);
  GgufFile f;
  f.path_ = path;
  f.storage_ = std::make_unique<Storage>();
  f.storage_->map = map;
  f.storage_->map_len = size;
  f.storage_->data = static_cast<const uint8_t*>(map);
  f.storage_->size = size;
  f.parse();
  return f;
}

GgufFile GgufFile::from_bytes(std::string_view bytes, const std::string& label) {
  GgufFile f;
  f.path_ = label;
  f.storage_ = std::make_unique<Storage>();
  f.storage_->owned.reset(new uint8_t[bytes.size() ? bytes.size() : 1]);
  if (!bytes.empty()) std::memcpy(f.storage_->owned.get(), bytes.data(), bytes.size());
  f.storage_->data = f.storage_->owned.get();
  f.storage_->size = bytes.size();
  f.parse();
  return f;
}

void GgufFile::parse() {
  if (!host_is_little_endian())
    throw Error("GGUF reader: big-endian hosts are not supported", "run on a little-endian machine");
  Cursor c(storage_->data, storage_->size, path_);
  if (storage_->size < 4)
    c.fail("truncated: " + std::to_string(storage_->size) + " bytes, too short for a GGUF header");
  const auto magic = c.bytes(4, "magic");
  if (magic != "GGUF") c.fail_at(0, "bad magic '" + printable(magic) + "', expected 'GGUF' (not a GGUF file)");
  version_ = c.read<uint32_t>("version");
  if (version_ == 1)
    throw Error("GGUF file '" + path_ + "': version 1 (32-bit counts) is not supported",
                "re-convert the model with a current llama.cpp (GGUF v3)");
  if ((version_ & 0xffffu) == 0 && (version_ >> 16) != 0)
    throw Error(
        "GGUF file '" + path_ + "': big-endian GGUF (version field " + std::to_string(version_) + ") is not supported",
        "use the little-endian GGUF of this model");
  if (version_ != 2 && version_ != 3)
    throw Error("GGUF file '" + path_ + "': unsupported version " + std::to_string(version_) +
                    " (this reader knows versions 2 and 3)",
                "re-convert the model with a llama.cpp that writes GGUF v3, or update this program");
  const size_t tc_at = c.pos();
  const uint64_t n_tensors = c.read<uint64_t>("tensor count");
  const size_t kc_at = c.pos();
  const uint64_t n_kv = c.read<uint64_t>("metadata count");
  // Smallest encodings: a key-value pair is a key length (8), a type (4) and a 1-byte value; a
  // tensor info is a name length (8), n_dims (4), a type (4) and an offset (8).
  if (n_kv > c.left() / 13)
    c.fail_at(kc_at, "metadata count " + std::to_string(n_kv) + " is more than the " + std::to_string(c.left()) +
                         " bytes left can hold");
  if (n_tensors > c.left() / 24)
    c.fail_at(tc_at, "tensor count " + std::to_string(n_tensors) + " is more than the " + std::to_string(c.left()) +
                         " bytes left can hold");

  Parser p(c);
  for (uint64_t k = 0; k < n_kv; ++k) {
    const size_t at = c.pos();
    const std::string key(c.string("metadata key " + std::to_string(k), kMaxKeyLength));
    if (key.empty()) c.fail_at(at, "metadata key " + std::to_string(k) + " is empty");
    const size_t type_at = c.pos();
    const uint32_t t = c.read<uint32_t>("metadata value type");
    if (!known_value_type(t))
      c.fail_at(type_at, "metadata key '" + printable(key) + "' has unknown value type " + std::to_string(t));
    GgufValue v = p.value(static_cast<GgufType>(t), key, 0);
    if (!kv_index_.emplace(key, kv_.size()).second)
      c.fail_at(at, "metadata key '" + printable(key) + "' appears twice");
    kv_.emplace_back(key, std::move(v));
  }

  alignment_ = kDefaultAlignment;
  if (const GgufValue* a = find("general.alignment")) {
    if (a->type != GgufType::U32) c.fail("general.alignment is " + describe_type(*a) + ", expected u32");
    if (a->u == 0 || (a->u & (a->u - 1)) != 0)
      c.fail("general.alignment " + std::to_string(a->u) + " is not a power of two");
    alignment_ = static_cast<uint32_t>(a->u);
  }

  tensors_.reserve(static_cast<size_t>(n_tensors));
  for (uint64_t k = 0; k < n_tensors; ++k) {
    const size_t at = c.pos();
    GgufTensor t;
    t.name = std::string(c.string("tensor name " + std::to_string(k), kMaxNameLength));
    if (t.name.empty()) c.fail_at(at, "tensor " + std::to_string(k) + " has an empty name");
    const std::string who = "tensor '" + printable(t.name) + "'";
    const size_t nd_at = c.pos();
    const uint32_t n_dims = c.read<uint32_t>("tensor dimension count");
    if (n_dims > 4) c.fail_at(nd_at, who + " has " + std::to_string(n_dims) + " dimensions, at most 4 are allowed");
    t.dims.resize(n_dims);
    uint64_t n = 1;
    for (uint32_t d = 0; d < n_dims; ++d) {
      const size_t dim_at = c.pos();
      t.dims[d] = c.read<uint64_t>("tensor dimension");
      const uint64_t lim = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
      if (t.dims[d] > lim || (t.dims[d] != 0 && n > lim / t.dims[d]))
        c.fail_at(dim_at, who + " has dimensions whose element count overflows");
      n *= t.dims[d];
    }
    t.n_elements = n;
    const size_t type_at = c.pos();
    const uint32_t type = c.read<uint32_t>("tensor type");
    const GgmlTypeInfo* ti = find_type_info(type);
    if (!ti) c.fail_at(type_at, who + " has unknown ggml type " + std::to_string(type));
    t.type = ti->type;
    if (t.row_length() % ti->block_size != 0)
      c.fail_at(nd_at, who + " has rows of " + std::to_string(t.row_length()) + " elements, not a multiple of the " +
                           ti->name + " block size " + std::to_string(ti->block_size));
    const uint64_t blocks = n / ti->block_size;
    if (blocks > std::numeric_limits<uint64_t>::max() / ti->type_size)
      c.fail_at(nd_at, who + " is too large (byte count overflows)");
    t.n_bytes = blocks * ti->type_size;
    const size_t off_at = c.pos();
    t.offset = c.read<uint64_t>("tensor data offset");
    if (t.offset % alignment_ != 0)
      c.fail_at(off_at, who + " has data offset " + std::to_string(t.offset) + ", not a multiple of the alignment " +
                            std::to_string(alignment_));
    if (!tensor_index_.emplace(t.name, tensors_.size()).second) c.fail_at(at, who + " appears twice");
    tensors_.push_back(std::move(t));
  }

  const uint64_t header_end = c.pos();
  data_offset_ = (header_end + alignment_ - 1) / alignment_ * alignment_;  // header_end < 2^63: no overflow
  const uint64_t size = storage_->size;
  if (!tensors_.empty() && data_offset_ > size)
    c.fail_at(header_end, "truncated: the data section would start at byte " + std::to_string(data_offset_) +
                              ", past the end of the file (" + std::to_string(size) + " bytes)");
  const uint64_t data_size = data_offset_ <= size ? size - data_offset_ : 0;
  for (auto& t : tensors_) {
    if (t.offset > data_size || t.n_bytes > data_size - t.offset)
      c.fail_at(header_end, "tensor '" + printable(t.name) + "' (" + std::to_string(t.n_bytes) +
                                " bytes at data offset " + std::to_string(t.offset) +
                                ") extends past the end of the file; the data section has " +
                                std::to_string(data_size) + " bytes");
    t.data = storage_->data + data_offset_ + t.offset;
  }
}

const GgufValue* GgufFile::find(const std::string& key) const {
  const auto it = kv_index_.find(key);
  return it == kv_index_.end() ? nullptr : &kv_[it->second].second;
}

const GgufValue& GgufFile::require(const std::string& key, const char* wanted) const {
  const GgufValue* v = find(key);
  if (!v)
    throw Error("GGUF file '" + path_ + "': metadata key '" + key + "' (" + wanted + ") is missing", kMetadataFix);
  return *v;
}

void GgufFile::type_error(const std::string& key, const GgufValue& v, const char* wanted) const {
  throw Error("GGUF file '" + path_ + "': metadata key '" + key + "' is " + describe_type(v) + ", expected " + wanted,
              kMetadataFix);
}

uint64_t GgufFile::get_u64(const std::string& key) const {
  const GgufValue& v = require(key, "u64");
  uint64_t out;
  if (!as_u64(v, out)) {
    if (v.is_integer())
      throw Error("GGUF file '" + path_ + "': metadata key '" + key + "' is negative (" + std::to_string(v.i) +
                      "), expected an unsigned value",
                  kMetadataFix);
    type_error(key, v, "an unsigned integer");
  }
  return out;
}
uint64_t GgufFile::get_u64(const std::string& key, uint64_t dflt) const { return has(key) ? get_u64(key) : dflt; }

uint32_t GgufFile::get_u32(const std::string& key) const {
  const uint64_t v = get_u64(key);
  if (v > std::numeric_limits<uint32_t>::max())
    throw Error("GGUF file '" + path_ + "': metadata key '" + key + "' = " + std::to_string(v) + " does not fit in u32",
                kMetadataFix);
  return static_cast<uint32_t>(v);
}
uint32_t GgufFile::get_u32(const std::string& key, uint32_t dflt) const { return has(key) ? get_u32(key) : dflt; }

int64_t GgufFile::get_i64(const std::string& key) const {
  const GgufValue& v = require(key, "integer");
  int64_t out;
  if (!as_i64(v, out)) {
    if (v.is_integer())
      throw Error(
          "GGUF file '" + path_ + "': metadata key '" + key + "' = " + std::to_string(v.u) + " does not fit in i64",
          kMetadataFix);
    type_error(key, v, "an integer");
  }
  return out;
}
int64_t GgufFile::get_i64(const std::string& key, int64_t dflt) const { return has(key) ? get_i64(key) : dflt; }

float GgufFile::get_f32(const std::string& key) const {
  const GgufValue& v = require(key, "f32");
  if (!v.is_float()) type_error(key, v, "f32 or f64");
  return narrow(v.f);
}
float GgufFile::get_f32(const std::string& key, float dflt) const { return has(key) ? get_f32(key) : dflt; }

bool GgufFile::get_bool(const std::string& key) const {
  const GgufValue& v = require(key, "bool");
  if (v.type != GgufType::Bool) type_error(key, v, "bool");
  return v.u != 0;
}
bool GgufFile::get_bool(const std::string& key, bool dflt) const { return has(key) ? get_bool(key) : dflt; }

std::string GgufFile::get_string(const std::string& key) const {
  const GgufValue& v = require(key, "string");
  if (v.type != GgufType::String) type_error(key, v, "string");
  return std::string(v.str);
}
std::string GgufFile::get_string(const std::string& key, const std::string& dflt) const {
  return has(key) ? get_string(key) : dflt;
}

std::vector<std::string> GgufFile::get_strings(const std::string& key) const {
  const GgufValue& v = require(key, "array of strings");
  if (v.type != GgufType::Array || v.elem_type != GgufType::String) type_error(key, v, "array of string");
  return std::vector<std::string>(v.strings.begin(), v.strings.end());
}

std::vector<float> GgufFile::get_floats(const std::string& key) const {
  const GgufValue& v = require(key, "array of floats");
  if (v.type != GgufType::Array || (v.elem_type != GgufType::F32 && v.elem_type != GgufType::F64))
    type_error(key, v, "array of f32 or f64");
  std::vector<float> out(static_cast<size_t>(v.count));
  for (uint64_t k = 0; k < v.count; ++k) out[k] = narrow(v.float_at(k));
  return out;
}

std::vector<int64_t> GgufFile::get_ints(const std::string& key) const {
  const GgufValue& v = require(key, "array of integers");
  GgufValue probe;
  probe.type = v.elem_type;
  if (v.type != GgufType::Array || !probe.is_integer()) type_error(key, v, "array of integers");
  std::vector<int64_t> out(static_cast<size_t>(v.count));
  for (uint64_t k = 0; k < v.count; ++k) {
    out[k] = v.int_at(k);
    if (v.elem_type == GgufType::U64 && out[k] < 0)
      throw Error("GGUF file '" + path_ + "': element " + std::to_string(k) + " of '" + key + "' does not fit in i64",
                  kMetadataFix);
  }
  return out;
}

uint64_t GgufFile::get_array_size(const std::string& key) const {
  const GgufValue& v = require(key, "array");
  if (v.type != GgufType::Array) type_error(key, v, "array");
  return v.count;
}

const GgufTensor* GgufFile::find_tensor(const std::string& name) const {
  const auto it = tensor_index_.find(name);
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

const GgufTensor& GgufFile::tensor(const std::string& name) const {
  const GgufTensor* t = find_tensor(name);
  if (!t)
    throw Error("GGUF file '" + path_ + "': no tensor named '" + name + "'",
                "the model file does not match the architecture this program expects; check general.architecture");
  return *t;
}

std::vector<float> dequantize_tensor(const GgufTensor& t, unsigned threads) {
  std::vector<float> out(static_cast<size_t>(t.n_elements));
  if (t.n_elements == 0) return out;
  dequantize_rows(t.type, t.data, out.data(), static_cast<size_t>(t.n_rows()), static_cast<size_t>(t.row_length()),
                  threads);
  return out;
}

}  // namespace mtk::llm
