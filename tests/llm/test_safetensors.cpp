// safetensors reader and Hugging Face model directories: hand-built files read back exactly
// (F32/F16/BF16, metadata, scalars, empty tensors, other dtypes recorded), sharded checkpoints,
// the fixtures written by the real `safetensors` library, and malformed files and directories that
// must each end in an mtk::Error naming the file and the problem.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "mtk/core/error.hpp"
#include "mtk/core/fs.hpp"
#include "mtk/llm/hf_model.hpp"
#include "mtk/llm/safetensors.hpp"

using namespace mtk::llm;
using Catch::Matchers::Contains;
namespace stdfs = std::filesystem;

namespace {

// Little-endian bytes of a value.
template <class T>
std::string le(const std::vector<T>& values) {
  std::string out(values.size() * sizeof(T), '\0');
  if (!values.empty()) std::memcpy(&out[0], values.data(), out.size());
  return out;
}

// A small safetensors writer: tensors in order, offsets computed, header padded to 8 bytes.
struct Writer {
  struct Entry {
    std::string name, dtype;
    std::vector<uint64_t> shape;
    std::string bytes;
  };
  std::vector<Entry> entries;
  nlohmann::json metadata;

  Writer& add(const std::string& name, const std::string& dtype, std::vector<uint64_t> shape, std::string bytes) {
    entries.push_back({name, dtype, std::move(shape), std::move(bytes)});
    return *this;
  }
  std::string build() const {
    nlohmann::ordered_json h = nlohmann::ordered_json::object();
    if (!metadata.is_null()) h["__metadata__"] = metadata;
    std::string data;
    for (const auto& e : entries) {
      h[e.name] = {
          {"dtype", e.dtype}, {"shape", e.shape}, {"data_offsets", {data.size(), data.size() + e.bytes.size()}}};
      data += e.bytes;
    }
    return raw(h.dump(), data);
  }
  // A file from a header text and data bytes as given (the header padded with spaces to 8 bytes).
  static std::string raw(std::string header, const std::string& data, bool pad = true) {
    if (pad) header.append((8 - header.size() % 8) % 8, ' ');
    return le(std::vector<uint64_t>{header.size()}) + header + data;
  }
};

stdfs::path temp_dir() { return mtk::fs::make_temp_dir(stdfs::temp_directory_path(), "mtk-st-"); }

void write(const stdfs::path& p, const std::string& bytes) { std::ofstream(p, std::ios::binary) << bytes; }

bool same_bits(float a, float b) { return std::memcmp(&a, &b, 4) == 0; }

// Parsing `bytes` must throw mtk::Error whose message has `phrase`, the file's label and a fix.
void expect_error(const std::string& bytes, const std::string& phrase) {
  INFO("expected an error containing: " << phrase);
  CHECK_THROWS_AS(SafetensorsFile::from_bytes(bytes, "case.safetensors"), mtk::Error);
  CHECK_THROWS_WITH(SafetensorsFile::from_bytes(bytes, "case.safetensors"),
                    Contains(phrase) && Contains("case.safetensors") && Contains("fix:"));
}

std::string header_only(const std::string& json, const std::string& data = std::string(16, '\0')) {
  return Writer::raw(json, data);
}

}  // namespace

TEST_CASE("safetensors: F32, F16 and BF16 read back exactly", "[unit][safetensors]") {
  const std::vector<float> f32 = {
      1.5f, -2.25f, 3.4e38f, std::numeric_limits<float>::denorm_min(), std::numeric_limits<float>::infinity(), -0.0f};
  // 1, -2, 65504 (largest), 2^-24 (smallest subnormal), +inf, 0.333251953125
  const std::vector<uint16_t> f16 = {0x3C00, 0xC000, 0x7BFF, 0x0001, 0x7C00, 0x3555};
  const std::vector<float> f16_want = {
      1.0f, -2.0f, 65504.0f, std::ldexp(1.0f, -24), std::numeric_limits<float>::infinity(), 0.333251953125f};
  // 1, -3, +inf, 2^-133 (smallest subnormal), 3.140625
  const std::vector<uint16_t> bf16 = {0x3F80, 0xC040, 0x7F80, 0x0001, 0x4049};
  const std::vector<float> bf16_want = {1.0f, -3.0f, std::numeric_limits<float>::infinity(), std::ldexp(1.0f, -133),
                                        3.140625f};
  Writer w;
  w.metadata = {{"format", "pt"}, {"note", "hand-built"}};
  w.add("a.f32", "F32", {2, 3}, le(f32))
      .add("b.f16", "F16", {6}, le(f16))
      .add("c.bf16", "BF16", {5, 1}, le(bf16))
      .add("d.i64", "I64", {2}, le(std::vector<int64_t>{-1, 7}))
      .add("e.scalar", "F32", {}, le(std::vector<float>{42.0f}))
      .add("f.empty", "F16", {0, 3}, "")
      .add("g.u8", "U8", {3}, "abc");
  const std::string image = w.build();

  auto check = [&](const SafetensorsFile& f) {
    REQUIRE(f.tensors().size() == 7);
    CHECK(f.metadata().at("format") == "pt");
    CHECK(f.metadata().at("note") == "hand-built");
    CHECK(f.tensors()[0].name == "a.f32");  // in the order of their bytes
    CHECK(f.tensors()[6].name == "g.u8");

    const SafeTensorInfo& a = f.tensor("a.f32");
    CHECK(a.dtype == SafeDtype::F32);
    CHECK(a.shape == std::vector<uint64_t>{2, 3});
    CHECK(a.n_elements == 6);
    CHECK(a.n_bytes() == 24);
    const auto av = f.to_f32(a);
    REQUIRE(av.size() == 6);
    for (size_t k = 0; k < 6; ++k) CHECK(same_bits(av[k], f32[k]));

    const auto bv = f.to_f32(f.tensor("b.f16"));
    REQUIRE(bv.size() == 6);
    for (size_t k = 0; k < 6; ++k) CHECK(same_bits(bv[k], f16_want[k]));

    const auto cv = f.to_f32(f.tensor("c.bf16"));
    REQUIRE(cv.size() == 5);
    for (size_t k = 0; k < 5; ++k) CHECK(same_bits(cv[k], bf16_want[k]));

    const SafeTensorInfo& d = f.tensor("d.i64");
    CHECK(d.dtype == SafeDtype::I64);
    CHECK(std::string(safe_dtype_name(d.dtype)) == "I64");
    CHECK(f.bytes(d) == le(std::vector<int64_t>{-1, 7}));
    CHECK_THROWS_WITH(f.to_f32(d), Contains("unsupported dtype I64 for tensor 'd.i64'"));

    const SafeTensorInfo& e = f.tensor("e.scalar");
    CHECK(e.shape.empty());
    CHECK(e.n_elements == 1);
    CHECK(f.to_f32(e) == std::vector<float>{42.0f});

    const SafeTensorInfo& z = f.tensor("f.empty");
    CHECK(z.n_elements == 0);
    CHECK(f.to_f32(z).empty());

    CHECK(f.bytes(f.tensor("g.u8")) == "abc");
    CHECK(f.find("nope") == nullptr);
    CHECK_THROWS_WITH(f.tensor("nope"), Contains("has no tensor 'nope'"));
  };

  SECTION("from memory") { check(SafetensorsFile::from_bytes(image, "mem.safetensors")); }
  SECTION("from a file (memory-mapped)") {
    const stdfs::path dir = temp_dir();
    write(dir / "x.safetensors", image);
    const SafetensorsFile f = SafetensorsFile::open((dir / "x.safetensors").string());
    CHECK(f.file_size() == image.size());
    CHECK(f.header_size() % 8 == 0);
    check(f);
    SafetensorsFile moved = SafetensorsFile::open((dir / "x.safetensors").string());
    SafetensorsFile other = std::move(moved);
    check(other);
    const SafetensorsModel m = SafetensorsModel::open((dir / "x.safetensors").string());
    CHECK(m.size() == 7);
    CHECK(m.to_f32("e.scalar") == std::vector<float>{42.0f});
    stdfs::remove_all(dir);
  }
}

TEST_CASE("safetensors: truncation at every byte offset throws", "[unit][safetensors]") {
  Writer w;
  w.add("a", "F32", {2}, le(std::vector<float>{1, 2})).add("b", "BF16", {3}, le(std::vector<uint16_t>{1, 2, 3}));
  const std::string image = w.build();
  CHECK(SafetensorsFile::from_bytes(image).tensors().size() == 2);
  for (size_t n = 0; n < image.size(); ++n) {
    INFO("truncated to " << n << " of " << image.size() << " bytes");
    CHECK_THROWS_AS(SafetensorsFile::from_bytes(image.substr(0, n), "cut.safetensors"), mtk::Error);
  }
}

TEST_CASE("safetensors: tensors out of header order, gaps, unpadded header", "[unit][safetensors]") {
  // JSON order differs from data order; a gap between tensors; no header padding.
  const std::string header =
      R"({"second":{"dtype":"F32","shape":[1],"data_offsets":[8,12]},"first":{"shape":[2],"dtype":"BF16","data_offsets":[0,4]}})";
  std::string data = le(std::vector<uint16_t>{0x3F80, 0x4000}) + std::string(4, '\xff') + le(std::vector<float>{5.0f});
  const auto f = SafetensorsFile::from_bytes(Writer::raw(header, data, false));
  REQUIRE(f.tensors().size() == 2);
  CHECK(f.tensors()[0].name == "first");
  CHECK(f.to_f32(f.tensor("first")) == std::vector<float>{1.0f, 2.0f});
  CHECK(f.to_f32(f.tensor("second")) == std::vector<float>{5.0f});
  CHECK(f.metadata().empty());
  // An empty header object is a valid (if useless) file.
  CHECK(SafetensorsFile::from_bytes(Writer::raw("{}", "")).tensors().empty());
}

TEST_CASE("safetensors: malformed files end in a clear error", "[unit][safetensors]") {
  const std::string ok_entry = R"("w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]})";
  // Sanity: the base case parses.
  CHECK(SafetensorsFile::from_bytes(header_only("{" + ok_entry + "}")).tensors().size() == 1);

  SECTION("empty file") { expect_error("", "too short for the 8-byte header length"); }
  SECTION("truncated length") { expect_error(std::string("\x10\x00\x00", 3), "too short"); }
  SECTION("header length past the end") {
    expect_error(Writer::raw("{" + ok_entry + "}", "").substr(0, 20), "truncated: the header length is");
  }
  SECTION("huge header length") {
    expect_error(le(std::vector<uint64_t>{uint64_t(1) << 40}) + "{}", "over the limit");
    expect_error(le(std::vector<uint64_t>{~uint64_t(0)}) + "{}", "over the limit");
  }
  SECTION("zero header length") { expect_error(le(std::vector<uint64_t>{0}), "too short for a JSON object"); }
  SECTION("not an object") { expect_error(header_only("[1, 2]"), "does not start with '{'"); }
  SECTION("bad JSON") { expect_error(header_only("{\"w\": {\"dtype\": "), "the JSON header does not parse"); }
  SECTION("trailing garbage after the JSON") { expect_error(header_only("{}x"), "does not parse"); }
  SECTION("invalid UTF-8 in a name") { expect_error(header_only("{\"\xff\xfe\": 1}"), "does not parse"); }
  SECTION("duplicate tensor name") {
    expect_error(header_only("{" + ok_entry + "," + ok_entry + "}"), "repeats the key 'w'");
  }
  SECTION("entry not an object") { expect_error(header_only(R"({"w": [1, 2]})"), "tensor 'w' is not an object"); }
  SECTION("missing field") {
    expect_error(header_only(R"({"w":{"dtype":"F32","shape":[4]}})"), "tensor 'w' has no 'data_offsets' field");
    expect_error(header_only(R"({"w":{"shape":[4],"data_offsets":[0,16]}})"), "has no 'dtype' field");
  }
  SECTION("extra field") {
    expect_error(header_only(R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16],"extra":1}})"),
                 "unexpected field 'extra'");
  }
  SECTION("unknown dtype") {
    expect_error(header_only(R"({"w":{"dtype":"F7","shape":[4],"data_offsets":[0,16]}})"), "unknown dtype \"F7\"");
  }
  SECTION("dtype not a string") {
    expect_error(header_only(R"({"w":{"dtype":4,"shape":[4],"data_offsets":[0,16]}})"), "dtype is not a string");
  }
  SECTION("negative or fractional dimension") {
    expect_error(header_only(R"({"w":{"dtype":"F32","shape":[-4],"data_offsets":[0,16]}})"), "non-negative integer");
    expect_error(header_only(R"({"w":{"dtype":"F32","shape":[4.0],"data_offsets":[0,16]}})"), "non-negative integer");
  }
  SECTION("shape does not match the byte count") {
    expect_error(header_only(R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[0,16]}})"),
                 "needs 12 bytes but data_offsets [0, 16] span 16");
    expect_error(header_only(R"({"w":{"dtype":"BF16","shape":[2,2],"data_offsets":[0,16]}})"), "needs 8 bytes");
  }
  SECTION("element count overflow") {
    expect_error(header_only(R"({"w":{"dtype":"F32","shape":[4294967296,4294967296,16],"data_offsets":[0,16]}})"),
                 "more elements than fit in 64 bits");
    expect_error(header_only(R"({"w":{"dtype":"F64","shape":[2305843009213693952,2],"data_offsets":[0,16]}})"),
                 "more elements than fit in 64 bits");
  }
  SECTION("offsets not a pair") {
    expect_error(header_only(R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[16]}})"), "is not [begin, end]");
    expect_error(header_only(R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[0,-16]}})"), "is not [begin, end]");
  }
  SECTION("offsets misordered") {
    expect_error(header_only(R"({"w":{"dtype":"F32","shape":[0],"data_offsets":[16,0]}})"), "end before they begin");
  }
  SECTION("offsets past the data") {
    expect_error(header_only(R"({"w":{"dtype":"F32","shape":[8],"data_offsets":[0,32]}})"), "reach past the end");
    expect_error(header_only(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[18446744073709551612,0]}})"),
                 "end before they begin");
  }
  SECTION("overlapping tensors") {
    expect_error(header_only(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                             R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})"),
                 "overlap");
    expect_error(header_only(R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},)"
                             R"("b":{"dtype":"U8","shape":[1],"data_offsets":[8,9]}})"),
                 "tensors 'a' [0, 16) and 'b' [8, 9) overlap");
  }
  SECTION("metadata that is not strings") {
    expect_error(header_only(R"({"__metadata__":{"format":1}})"), "__metadata__ value 'format' is not a string");
    expect_error(header_only(R"({"__metadata__":[]})"), "__metadata__ is not an object");
  }
  SECTION("missing file") {
    CHECK_THROWS_WITH(SafetensorsFile::open("/nonexistent/x.safetensors"),
                      Contains("cannot open safetensors file '/nonexistent/x.safetensors'"));
  }
}

namespace {

// Writes a two-shard checkpoint into `dir`; `map` overrides the weight_map when given.
void write_sharded(const stdfs::path& dir, const nlohmann::json& map = nullptr) {
  Writer a, b;
  a.add("model.embed_tokens.weight", "F32", {2, 2}, le(std::vector<float>{1, 2, 3, 4}));
  a.add("model.norm.weight", "BF16", {2}, le(std::vector<uint16_t>{0x3F80, 0x4000}));
  b.add("lm_head.weight", "F16", {2, 2}, le(std::vector<uint16_t>{0x3C00, 0x4000, 0x4200, 0x4400}));
  write(dir / "model-00001-of-00002.safetensors", a.build());
  write(dir / "model-00002-of-00002.safetensors", b.build());
  nlohmann::json index = {{"metadata", {{"total_size", 28}}},
                          {"weight_map",
                           {{"model.embed_tokens.weight", "model-00001-of-00002.safetensors"},
                            {"model.norm.weight", "model-00001-of-00002.safetensors"},
                            {"lm_head.weight", "model-00002-of-00002.safetensors"}}}};
  if (!map.is_null()) index["weight_map"] = map;
  write(dir / "model.safetensors.index.json", index.dump(2));
}

}  // namespace

TEST_CASE("safetensors: sharded checkpoints", "[unit][safetensors]") {
  const stdfs::path dir = temp_dir();
  write_sharded(dir);
  const SafetensorsModel m = SafetensorsModel::open(dir.string());
  CHECK(m.shards().size() == 2);
  CHECK(m.size() == 3);
  CHECK(m.index_path() == (dir / "model.safetensors.index.json").string());
  CHECK(m.index_metadata().at("total_size") == "28");
  CHECK(m.to_f32("model.embed_tokens.weight") == std::vector<float>{1, 2, 3, 4});
  CHECK(m.to_f32("model.norm.weight") == std::vector<float>{1, 2});
  CHECK(m.to_f32("lm_head.weight") == std::vector<float>{1, 2, 3, 4});
  CHECK(*m.tensor("lm_head.weight").file == (dir / "model-00002-of-00002.safetensors").string());
  const auto all = m.tensors();
  REQUIRE(all.size() == 3);
  CHECK(all[0]->name == "lm_head.weight");  // by name
  CHECK(m.find("missing") == nullptr);
  CHECK_THROWS_WITH(m.tensor("missing"), Contains("has no tensor 'missing'"));
  // The index path itself also opens; a moved model keeps its tensors.
  SafetensorsModel moved = SafetensorsModel::open((dir / "model.safetensors.index.json").string());
  SafetensorsModel m2 = std::move(moved);
  CHECK(m2.to_f32("model.norm.weight") == std::vector<float>{1, 2});
  stdfs::remove_all(dir);
}

TEST_CASE("safetensors: broken sharded checkpoints end in a clear error", "[unit][safetensors]") {
  const stdfs::path dir = temp_dir();
  const std::string index = (dir / "model.safetensors.index.json").string();
  const std::string s1 = "model-00001-of-00002.safetensors", s2 = "model-00002-of-00002.safetensors";
  auto expect = [&](const std::string& phrase) {
    INFO("expected an error containing: " << phrase);
    CHECK_THROWS_AS(SafetensorsModel::open(dir.string()), mtk::Error);
    CHECK_THROWS_WITH(SafetensorsModel::open(dir.string()), Contains(phrase) && Contains("fix:"));
  };
  SECTION("missing shard") {
    write_sharded(dir);
    stdfs::remove(dir / s2);
    expect("names the shard 'model-00002-of-00002.safetensors', which is missing");
  }
  SECTION("tensor in two shards") {
    write_sharded(dir);
    Writer b;
    b.add("lm_head.weight", "F32", {1}, le(std::vector<float>{1}));
    b.add("model.norm.weight", "F32", {1}, le(std::vector<float>{1}));
    write(dir / s2, b.build());
    expect("tensor 'model.norm.weight' is in two shards");
  }
  SECTION("tensor in another shard than the map says") {
    write_sharded(dir, {{"model.embed_tokens.weight", s2}, {"model.norm.weight", s1}, {"lm_head.weight", s2}});
    expect("tensor 'model.embed_tokens.weight' is mapped to 'model-00002-of-00002.safetensors' but is in");
  }
  SECTION("tensor mapped but in no shard") {
    write_sharded(
        dir,
        {{"model.embed_tokens.weight", s1}, {"model.norm.weight", s1}, {"lm_head.weight", s2}, {"extra.weight", s2}});
    expect("tensor 'extra.weight' is mapped to 'model-00002-of-00002.safetensors' but is in no shard");
  }
  SECTION("tensor in a shard but not in the map") {
    write_sharded(dir, {{"model.embed_tokens.weight", s1}, {"lm_head.weight", s2}});
    expect("tensor 'model.norm.weight' in '");
  }
  SECTION("index is not JSON") {
    write_sharded(dir);
    write(index, "{\"weight_map\": ");
    expect("not valid JSON");
  }
  SECTION("index without weight_map") {
    write_sharded(dir);
    write(index, "{\"metadata\": {}}");
    expect("no \"weight_map\" object");
  }
  SECTION("shard outside the directory") {
    write_sharded(dir, {{"model.embed_tokens.weight", "../model-00001-of-00002.safetensors"}});
    expect("which is not a file beside the index");
  }
  SECTION("damaged shard") {
    write_sharded(dir);
    write(dir / s1, "garbage!");
    expect(s1);
  }
  SECTION("no weights at all") { expect("has no model.safetensors and no model.safetensors.index.json"); }
  stdfs::remove_all(dir);
}

TEST_CASE("Hugging Face model directories", "[unit][safetensors][hf]") {
  const stdfs::path dir = temp_dir();
  const std::string config = R"({"model_type": "llama", "hidden_size": 2})";
  SECTION("a complete sharded directory") {
    write_sharded(dir);
    write(dir / "config.json", config);
    write(dir / "generation_config.json", R"({"eos_token_id": 2})");
    write(dir / "tokenizer_config.json", R"({"bos_token": "<s>"})");
    CHECK(is_hf_model_dir(dir.string()));
    const HfModelDir d = load_hf_dir(dir.string());
    CHECK(d.model_type() == "llama");
    CHECK(d.config["hidden_size"] == 2);
    CHECK(d.generation_config["eos_token_id"] == 2);
    CHECK(d.tokenizer_config["bos_token"] == "<s>");
    CHECK(d.tokenizer.is_null());
    CHECK_FALSE(d.has_tokenizer());
    CHECK(d.tensors.size() == 3);
    CHECK(d.tensors.to_f32("model.norm.weight") == std::vector<float>{1, 2});
    write(dir / "tokenizer.json", R"({"model": {"type": "BPE"}})");
    const HfModelDir d2 = load_hf_dir(dir.string());
    CHECK(d2.has_tokenizer());
    CHECK(d2.tokenizer_json_path == (dir / "tokenizer.json").string());
    CHECK(d2.tokenizer["model"]["type"] == "BPE");
    CHECK(load_hf_dir(dir.string(), false).tokenizer.is_null());
  }
  SECTION("no config.json") {
    write_sharded(dir);
    CHECK_FALSE(is_hf_model_dir(dir.string()));
    CHECK_THROWS_WITH(load_hf_dir(dir.string()),
                      Contains("is not a Hugging Face model directory (expected config.json and model.safetensors") &&
                          Contains("missing config.json"));
  }
  SECTION("no weights") {
    write(dir / "config.json", config);
    write(dir / "pytorch_model.bin", "x");
    CHECK_FALSE(is_hf_model_dir(dir.string()));
    CHECK_THROWS_WITH(load_hf_dir(dir.string()),
                      Contains("is not a Hugging Face model directory") && Contains("PyTorch .bin weights"));
  }
  SECTION("config.json that does not parse") {
    write_sharded(dir);
    write(dir / "config.json", "{\"model_type\": ");
    CHECK_THROWS_WITH(load_hf_dir(dir.string()), Contains("config.json' is not valid JSON"));
  }
  SECTION("not a directory") {
    write(dir / "file", "x");
    CHECK_THROWS_WITH(load_hf_dir((dir / "file").string()), Contains("is not a directory"));
    CHECK_THROWS_WITH(load_hf_dir((dir / "nothing").string()), Contains("does not exist"));
  }
  stdfs::remove_all(dir);
}

TEST_CASE("safetensors: files written by the safetensors library", "[unit][safetensors][hf]") {
  // The transformers fixtures (tests/llm/fixtures/hf/*): real save_pretrained output.
  const stdfs::path root = mtk::fs::project_root() / "tests" / "llm" / "fixtures" / "hf";
  size_t dirs = 0;
  if (stdfs::is_directory(root))
    for (const auto& e : stdfs::directory_iterator(root)) {
      if (!is_hf_model_dir(e.path().string())) continue;
      ++dirs;
      INFO(e.path());
      const HfModelDir d = load_hf_dir(e.path().string());
      CHECK(!d.model_type().empty());
      REQUIRE(d.tensors.shards().size() >= 1);
      CHECK(d.tensors.shards()[0].metadata().at("format") == "pt");
      uint64_t end = 0;
      for (const auto& t : d.tensors.shards()[0].tensors()) {
        CHECK(t.begin == end);  // the library writes tensors back to back
        end = t.end;
        const auto v = safetensor_to_f32(t);
        CHECK(v.size() == t.n_elements);
        CHECK(std::all_of(v.begin(), v.end(), [](float x) { return std::isfinite(x); }));
      }
      CHECK(d.tensors.shards()[0].data_offset() + end == d.tensors.shards()[0].file_size());
      CHECK(d.tensors.find("model.embed_tokens.weight") != nullptr);
    }
  if (dirs == 0) WARN("no fixtures under " << root << " (written by tests/llm/fixtures/make_hf_fixtures.py)");
}
