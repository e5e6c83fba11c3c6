// GGUF reader on byte images built by the test-side writer: every value type, tensor layout,
// typed getters, and corrupt or hostile images (which must raise mtk::Error, never crash).
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "gguf_writer.hpp"
#include "mtk/core/error.hpp"
#include "mtk/llm/gguf.hpp"
#include "mtk/llm/model_info.hpp"

using namespace mtk::llm;
using mtk::testing::Enc;
using mtk::testing::GgufBuilder;
namespace t = mtk::testing;

namespace {

std::string f32_bytes(const std::vector<float>& v) {
  std::string s;
  for (float f : v) s += Enc::f32(f);
  return s;
}

// A Q8_0 block (d = 1/2 as fp16, then 32 signed bytes k - 16).
std::string q8_0_block() {
  std::string s = Enc::u16(0x3800);
  for (int k = 0; k < 32; ++k) s += Enc::i8(static_cast<int8_t>(k - 16));
  return s;
}

// A small valid file using every value type, nested arrays and three tensors.
GgufBuilder small_builder() {
  GgufBuilder b;
  b.kv_str("general.architecture", "llama")
      .kv("t.u8", t::kU8, Enc::u8(200))
      .kv("t.i8", t::kI8, Enc::i8(-100))
      .kv("t.u16", t::kU16, Enc::u16(60000))
      .kv("t.i16", t::kI16, Enc::i16(-30000))
      .kv_u32("llama.context_length", 2048)
      .kv("t.i32", t::kI32, Enc::i32(-2000000000))
      .kv("llama.rope.freq_base", t::kF32, Enc::f32(10000.5f))
      .kv("t.bool", t::kBool, Enc::u8(1))
      .kv("t.u64", t::kU64, Enc::u64(1ull << 40))
      .kv("t.i64", t::kI64, Enc::i64(-(1ll << 40)))
      .kv("t.f64", t::kF64, Enc::f64(-2.25))
      .kv("tokenizer.ggml.tokens", t::kArray,
          GgufBuilder::array(t::kString, {Enc::str("a"), Enc::str(""), Enc::str("\xc4\xa0hello")}))
      .kv("t.scores", t::kArray, GgufBuilder::array(t::kF32, {Enc::f32(0.5f), Enc::f32(-1.0f)}))
      .kv("t.types", t::kArray, GgufBuilder::array(t::kI32, {Enc::i32(1), Enc::i32(-3), Enc::i32(6)}))
      .kv("t.nested", t::kArray,
          GgufBuilder::array(t::kArray, {GgufBuilder::array(t::kU8, {Enc::u8(1), Enc::u8(2)}),
                                         GgufBuilder::array(t::kString, {Enc::str("x")})}))
      .kv("t.empty", t::kArray, GgufBuilder::array(t::kU64, {}));
  b.tensor({"token_embd.weight", {32, 2}, 8, q8_0_block() + q8_0_block(), {}, {}});
  b.tensor({"output_norm.weight", {3}, 0, f32_bytes({1.0f, -2.0f, 0.25f}), {}, {}});
  b.tensor(
      {"blk.0.attn_q.weight", {2, 2}, 1, Enc::u16(0x3C00) + Enc::u16(0xC000) + Enc::u16(0) + Enc::u16(0x3800), {}, {}});
  return b;
}

void require_error(const std::string& bytes, const std::string& needle = "") {
  try {
    GgufFile::from_bytes(bytes, "test.gguf");
  } catch (const mtk::Error& e) {
    const std::string msg = e.what();
    INFO(msg);
    CHECK(msg.find("test.gguf") != std::string::npos);
    if (!needle.empty()) CHECK(msg.find(needle) != std::string::npos);
    return;
  } catch (const std::exception& e) {
    FAIL("not an mtk::Error: " << e.what());
  }
  FAIL("no error for a bad image (" << needle << ")");
}

// Zero bytes appended to hand-made images so the count checks pass and the parser reaches the
// corrupt field.
const std::string kTail(32, '\0');

std::string header(uint64_t n_tensors, uint64_t n_kv, uint32_t version = 3) {
  return "GGUF" + Enc::u32(version) + Enc::u64(n_tensors) + Enc::u64(n_kv);
}

}  // namespace

TEST_CASE("GGUF reader: every metadata value type", "[unit]") {
  const std::string img = small_builder().build();
  const auto f = GgufFile::from_bytes(img, "small.gguf");
  CHECK(f.version() == 3);
  CHECK(f.alignment() == 32);
  CHECK(f.metadata().size() == 17);
  CHECK(f.metadata()[0].first == "general.architecture");
  CHECK(f.get_string("general.architecture") == "llama");
  CHECK(f.get_u32("t.u8") == 200);
  CHECK(f.get_i64("t.i8") == -100);
  CHECK(f.get_u32("t.u16") == 60000);
  CHECK(f.get_i64("t.i16") == -30000);
  CHECK(f.get_u32("llama.context_length") == 2048);
  CHECK(f.get_u64("llama.context_length") == 2048);
  CHECK(f.get_i64("t.i32") == -2000000000);
  CHECK(f.get_f32("llama.rope.freq_base") == 10000.5f);
  CHECK(f.get_bool("t.bool"));
  CHECK(f.get_u64("t.u64") == (1ull << 40));
  CHECK(f.get_i64("t.i64") == -(1ll << 40));
  CHECK(f.get_f32("t.f64") == -2.25f);
  CHECK(f.find("t.f64")->f == -2.25);
  CHECK(f.get_strings("tokenizer.ggml.tokens") == std::vector<std::string>{"a", "", "\xc4\xa0hello"});
  CHECK(f.get_array_size("tokenizer.ggml.tokens") == 3);
  CHECK(f.get_floats("t.scores") == std::vector<float>{0.5f, -1.0f});
  CHECK(f.get_ints("t.types") == std::vector<int64_t>{1, -3, 6});
  CHECK(f.get_ints("t.empty").empty());
  const GgufValue* n = f.find("t.nested");
  REQUIRE(n);
  CHECK(n->type == GgufType::Array);
  CHECK(n->elem_type == GgufType::Array);
  REQUIRE(n->items.size() == 2);
  CHECK(n->items[0].elem_type == GgufType::U8);
  CHECK(n->items[0].int_at(1) == 2);
  CHECK(n->items[1].strings.at(0) == "x");

  // Defaults, missing keys and wrong types.
  CHECK(f.get_u32("missing.key", 7) == 7);
  CHECK(f.get_string("missing.key", "d") == "d");
  CHECK(f.get_f32("missing.key", 1.5f) == 1.5f);
  CHECK_FALSE(f.get_bool("missing.key", false));
  try {
    f.get_u32("llama.block_count");
    FAIL("no error");
  } catch (const mtk::Error& e) {
    CHECK(std::string(e.what()).find("'llama.block_count'") != std::string::npos);
    CHECK(std::string(e.what()).find("missing") != std::string::npos);
  }
  CHECK_THROWS_AS(f.get_u32("general.architecture"), mtk::Error);     // string, not an integer
  CHECK_THROWS_AS(f.get_u32("general.architecture", 3), mtk::Error);  // present: no default
  CHECK_THROWS_AS(f.get_u32("t.u64"), mtk::Error);                    // does not fit
  CHECK_THROWS_AS(f.get_u64("t.i8"), mtk::Error);                     // negative
  CHECK_THROWS_AS(f.get_string("t.u8"), mtk::Error);
  CHECK_THROWS_AS(f.get_strings("t.scores"), mtk::Error);
  CHECK_THROWS_AS(f.get_floats("t.types"), mtk::Error);
  CHECK_THROWS_AS(f.get_f32("t.u8"), mtk::Error);
  CHECK_THROWS_AS(f.get_bool("t.u8"), mtk::Error);
}

TEST_CASE("GGUF reader: tensors, offsets, data and dequantisation", "[unit]") {
  const std::string img = small_builder().build();
  const auto f = GgufFile::from_bytes(img, "small.gguf");
  REQUIRE(f.tensors().size() == 3);
  const auto& e = f.tensor("token_embd.weight");
  CHECK(e.dims == std::vector<uint64_t>{32, 2});
  CHECK(e.type == GgmlType::Q8_0);
  CHECK(e.n_elements == 64);
  CHECK(e.n_bytes == 68);
  CHECK(e.offset == 0);
  CHECK(e.n_rows() == 2);
  CHECK(f.data_offset() % 32 == 0);
  CHECK(e.data == f.bytes() + f.data_offset());
  const auto& norm = f.tensor("output_norm.weight");
  CHECK(norm.offset == 96);  // 68 rounded up to 32
  CHECK(dequantize_tensor(norm) == std::vector<float>{1.0f, -2.0f, 0.25f});
  const auto ev = dequantize_tensor(e);
  REQUIRE(ev.size() == 64);
  for (int k = 0; k < 64; ++k) CHECK(ev[k] == 0.5f * ((k % 32) - 16));
  CHECK(dequantize_tensor(f.tensor("blk.0.attn_q.weight")) == std::vector<float>{1.0f, -2.0f, 0.0f, 0.5f});
  CHECK(f.find_tensor("nope") == nullptr);
  CHECK_THROWS_AS(f.tensor("nope"), mtk::Error);

  const ModelInfo mi = describe(f);
  CHECK(mi.architecture == "llama");
  CHECK(mi.parameter_count == 64 + 3 + 4);
  CHECK(mi.context_length == 2048);
  CHECK(mi.vocab_size == 3);
  CHECK(mi.by_type.at("Q8_0").tensors == 1);
  CHECK(mi.by_type.at("F32").bytes == 12);
  CHECK_FALSE(mi.has_chat_template);
  CHECK(mi.to_string().find("llama") != std::string::npos);
}

TEST_CASE("GGUF reader: version 2, custom alignment, no tensors, file entry point", "[unit]") {
  GgufBuilder b = small_builder();
  b.version = 2;
  b.layout_alignment = 64;
  b.kv_u32("general.alignment", 64);
  const auto f = GgufFile::from_bytes(b.build());
  CHECK(f.version() == 2);
  CHECK(f.alignment() == 64);
  CHECK(f.data_offset() % 64 == 0);
  CHECK(f.tensor("output_norm.weight").offset == 128);
  CHECK(dequantize_tensor(f.tensor("output_norm.weight")) == std::vector<float>{1.0f, -2.0f, 0.25f});

  GgufBuilder empty;
  empty.kv_str("general.architecture", "none");
  const auto g = GgufFile::from_bytes(empty.build());
  CHECK(g.tensors().empty());
  CHECK(GgufFile::from_bytes(header(0, 0)).metadata().empty());

  const auto path = std::filesystem::temp_directory_path() / ("mtk-test-llm-" + std::to_string(::getpid()) + ".gguf");
  {
    std::ofstream o(path, std::ios::binary);
    const std::string img = small_builder().build();
    o.write(img.data(), static_cast<std::streamsize>(img.size()));
  }
  const auto h = GgufFile::open(path.string());
  CHECK(h.path() == path.string());
  CHECK(h.tensors().size() == 3);
  CHECK(dequantize_tensor(h.tensor("output_norm.weight"))[1] == -2.0f);
  std::filesystem::remove(path);
  try {
    GgufFile::open("/nonexistent/model.gguf");
    FAIL("no error");
  } catch (const mtk::Error& e) {
    CHECK(std::string(e.what()).find("/nonexistent/model.gguf") != std::string::npos);
    CHECK(std::string(e.what()).find("fetch_models.sh") != std::string::npos);
  }
  CHECK_THROWS_AS(GgufFile::open(std::filesystem::temp_directory_path().string()), mtk::Error);  // a directory
}

TEST_CASE("GGUF reader: truncation at every byte offset throws", "[unit]") {
  const std::string img = small_builder().build();
  REQUIRE_NOTHROW(GgufFile::from_bytes(img));
  for (size_t len = 0; len < img.size(); ++len) {
    INFO("length " << len);
    try {
      GgufFile::from_bytes(std::string_view(img.data(), len), "test.gguf");
      FAIL("truncated image accepted");
    } catch (const mtk::Error& e) {
      CHECK(std::string(e.what()).find("test.gguf") != std::string::npos);
    }
  }
}

TEST_CASE("GGUF reader: corrupt headers and values", "[unit]") {
  const std::string good = small_builder().build();
  SECTION("bad magic") {
    std::string s = good;
    s[0] = 'X';
    require_error(s, "magic");
    require_error("GGML" + good.substr(4), "magic");
  }
  SECTION("versions") {
    require_error(header(0, 0, 1), "version 1");
    require_error(header(0, 0, 4), "unsupported version 4");
    require_error(header(0, 0, 0), "unsupported version 0");
    require_error(header(0, 0, 0x03000000), "big-endian");
  }
  SECTION("huge counts") {
    require_error(header(0, ~0ull), "metadata count");
    require_error(header(~0ull, 0), "tensor count");
    require_error(header(1ull << 40, 1ull << 40));
    GgufBuilder b = small_builder();
    b.kv_count = 18;  // one more than present
    require_error(b.build());
  }
  SECTION("huge string lengths") {
    require_error(header(0, 1) + Enc::u64(~0ull) + "k" + kTail, "metadata key");
    require_error(header(0, 1) + Enc::u64(1ull << 62) + "k" + kTail, "metadata key");
    require_error(header(0, 1) + Enc::str("k") + Enc::u32(t::kString) + Enc::u64(~0ull - 3) + "abc", "claims");
    require_error(header(0, 1) + Enc::u64(70000) + std::string(70000, 'k') + Enc::u32(t::kU8) + Enc::u8(0), "limit");
    GgufBuilder b;
    b.kv("tokenizer.ggml.tokens", t::kArray, Enc::u32(t::kString) + Enc::u64(2) + Enc::str("a") + Enc::u64(1ull << 60));
    require_error(b.build());
  }
  SECTION("huge array counts") {
    GgufBuilder b;
    b.kv("a", t::kArray, Enc::u32(t::kU64) + Enc::u64(1ull << 61) + Enc::u64(1));
    require_error(b.build(), "claims");
    GgufBuilder c;
    c.kv("a", t::kArray, Enc::u32(t::kString) + Enc::u64(~0ull));
    require_error(c.build(), "claims");
    GgufBuilder d;
    d.kv("a", t::kArray, Enc::u32(t::kArray) + Enc::u64(1ull << 50));
    require_error(d.build(), "claims");
  }
  SECTION("unknown value types") {
    require_error(header(0, 1) + Enc::str("k") + Enc::u32(13) + Enc::u8(0) + kTail, "unknown value type 13");
    require_error(header(0, 1) + Enc::str("k") + Enc::u32(0xffffffffu) + Enc::u8(0) + kTail, "unknown value type");
    GgufBuilder b;
    b.kv("a", t::kArray, Enc::u32(99) + Enc::u64(0));
    require_error(b.build(), "unknown element type 99");
  }
  SECTION("bad bools, empty and duplicate keys") {
    GgufBuilder b;
    b.kv("flag", t::kBool, Enc::u8(2));
    require_error(b.build(), "bool");
    GgufBuilder c;
    c.kv("flags", t::kArray, GgufBuilder::array(t::kBool, {Enc::u8(1), Enc::u8(7)}));
    require_error(c.build(), "bool");
    require_error(header(0, 1) + Enc::str("") + Enc::u32(t::kU8) + Enc::u8(0) + kTail, "empty");
    GgufBuilder d;
    d.kv_u32("x", 1).kv_u32("x", 2);
    require_error(d.build(), "twice");
  }
  SECTION("nested array depth") {
    auto nest = [](int depth) {
      std::string v = GgufBuilder::array(t::kU8, {Enc::u8(1)});
      for (int k = 1; k < depth; ++k) v = GgufBuilder::array(t::kArray, {v});
      GgufBuilder b;
      b.kv("deep", t::kArray, v);
      return b.build();
    };
    CHECK_NOTHROW(GgufFile::from_bytes(nest(GgufFile::kMaxArrayDepth)));
    require_error(nest(GgufFile::kMaxArrayDepth + 1), "nested");
    require_error(nest(1000), "nested");
  }
  SECTION("alignment") {
    GgufBuilder b = small_builder();
    b.kv_u32("general.alignment", 48);
    require_error(b.build(), "power of two");
    GgufBuilder c = small_builder();
    c.kv_u32("general.alignment", 0);
    require_error(c.build(), "power of two");
    GgufBuilder d = small_builder();
    d.kv("general.alignment", t::kU64, Enc::u64(32));
    require_error(d.build(), "expected u32");
  }
}

TEST_CASE("GGUF reader: corrupt tensor infos", "[unit]") {
  auto one = [](GgufBuilder::Tensor tn) {
    GgufBuilder b;
    b.kv_str("general.architecture", "llama");
    b.tensor(std::move(tn));
    return b.build();
  };
  const std::string f4 = f32_bytes({1, 2, 3, 4});
  REQUIRE_NOTHROW(GgufFile::from_bytes(one({"w", {4}, 0, f4, {}, {}})));
  SECTION("dims") {
    require_error(one({"w", {1, 1, 1, 1, 4}, 0, f4, {}, {}}), "at most 4");
    require_error(one({"w", {1ull << 32, 1ull << 32}, 0, f4, {}, {}}), "overflows");
    require_error(one({"w", {~0ull}, 0, f4, {}, {}}), "overflows");
    require_error(one({"w", {1ull << 62, 4}, 0, f4, {}, {}}), "overflows");
    require_error(one({"w", {1ull << 62}, 0, f4, {}, {}}), "overflows");  // elements fit, bytes do not
    require_error(one({"w", {1ull << 40, 2}, 0, f4, {}, {}}), "past the end");
    require_error(one({"w", {16}, 2, f4, {}, {}}), "block size");  // Q4_0 row of 16
  }
  SECTION("types") {
    require_error(one({"w", {4}, 4, f4, {}, {}}), "unknown ggml type 4");
    require_error(one({"w", {4}, 1000, f4, {}, {}}), "unknown ggml type 1000");
  }
  SECTION("offsets") {
    require_error(one({"w", {4}, 0, f4, {}, uint64_t{64}}), "past the end");
    require_error(one({"w", {4}, 0, f4, {}, ~0ull - 31}), "past the end");
    require_error(one({"w", {4}, 0, f4, {}, uint64_t{16}}), "alignment");
    require_error(one({"w", {4}, 0, f4, {}, uint64_t{1}}), "alignment");
  }
  SECTION("names") {
    require_error(one({std::string(64, 'n'), {4}, 0, f4, {}, {}}), "limit");
    CHECK_NOTHROW(GgufFile::from_bytes(one({std::string(63, 'n'), {4}, 0, f4, {}, {}})));
    require_error(one({"", {4}, 0, f4, {}, {}}), "empty name");
    GgufBuilder b;
    b.tensor({"w", {4}, 0, f4, {}, {}}).tensor({"w", {4}, 0, f4, {}, {}});
    require_error(b.build(), "twice");
  }
  SECTION("data missing") {
    std::string img = one({"w", {4}, 0, f4, {}, {}});
    img.resize(img.size() - 1);
    require_error(img, "past the end");
  }
  SECTION("tensor count larger than the infos") {
    GgufBuilder b;
    b.tensor({"w", {4}, 0, f4, {}, {}});
    b.tensor_count = 2;
    require_error(b.build());
  }
  SECTION("unsupported types parse, but do not dequantise") {
    const auto f = GgufFile::from_bytes(one({"w", {256}, 16, std::string(66, '\0'), {}, {}}));  // IQ2_XXS
    CHECK(f.tensor("w").n_bytes == 66);
    CHECK_THROWS_AS(dequantize_tensor(f.tensor("w")), mtk::Error);
  }
}

TEST_CASE("GGUF reader: random byte corruption never crashes", "[unit]") {
  const std::string good = small_builder().build();
  uint32_t st = 12345;
  auto rnd = [&st] {
    st = st * 1664525u + 1013904223u;
    return st >> 8;
  };
  int accepted = 0, rejected = 0;
  for (int iter = 0; iter < 20000; ++iter) {
    std::string s = good;
    const int flips = 1 + static_cast<int>(rnd() % 4);
    for (int k = 0; k < flips; ++k) {
      const size_t pos = rnd() % s.size();
      switch (rnd() % 3) {
        case 0:
          s[pos] = static_cast<char>(rnd());
          break;
        case 1:
          s[pos] = static_cast<char>(0xff);
          break;
        default:
          s[pos] ^= static_cast<char>(1u << (rnd() % 8));
          break;
      }
    }
    try {
      const auto f = GgufFile::from_bytes(s);
      for (const auto& tn : f.tensors())
        if (type_info(tn.type).dequantizable) (void)dequantize_tensor(tn, 1);
      ++accepted;
    } catch (const mtk::Error&) {
      ++rejected;
    }
  }
  CHECK(accepted + rejected == 20000);
  CHECK(rejected > 0);
}
