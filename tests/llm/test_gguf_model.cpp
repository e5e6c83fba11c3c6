// The real models against llama.cpp's `gguf` Python package (tests/llm/gguf_peer.py): metadata,
// tensor infos, and every tensor's dequantised values. SmolLM2 is required (the test fails with
// the fix when it or the package is missing); Gemma 3 is checked when it was fetched.
#include <sys/wait.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "mtk/core/error.hpp"
#include "mtk/core/fs.hpp"
#include "mtk/core/hash.hpp"
#include "peer.hpp"
#include "mtk/llm/gguf.hpp"
#include "mtk/llm/model_info.hpp"

using namespace mtk::llm;
using namespace mtk::test;
namespace stdfs = std::filesystem;

namespace {


std::string value_digest(const GgufValue& v) {
  mtk::Sha256 h;
  auto str = [&h](std::string_view s) {
    uint64_t n = s.size();
    h.update(std::string_view(reinterpret_cast<const char*>(&n), 8));
    h.update(s);
  };
  if (v.type == GgufType::Array) {
    if (v.elem_type == GgufType::String)
      for (auto s : v.strings) str(s);
    else
      h.update(v.raw);
  } else if (v.type == GgufType::String) {
    str(v.str);
  } else {
    const size_t sizes[] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
    uint64_t bits = 0;
    if (v.type == GgufType::F32) {
      const float f = static_cast<float>(v.f);
      std::memcpy(&bits, &f, 4);
    } else if (v.type == GgufType::F64) {
      std::memcpy(&bits, &v.f, 8);
    } else if (v.is_integer() && (v.type == GgufType::I8 || v.type == GgufType::I16 || v.type == GgufType::I32 ||
                                  v.type == GgufType::I64)) {
      bits = static_cast<uint64_t>(v.i);
    } else {
      bits = v.u;
    }
    h.update(std::string_view(reinterpret_cast<const char*>(&bits), sizes[static_cast<int>(v.type)]));
  }
  return h.hex();
}

void check_against_peer_metadata(const GgufFile& f) {
  const auto j = nlohmann::json::parse(
      run_checked(quote(python()) + " " + quote(peer_script("gguf_peer.py").string()) + " meta " + quote(f.path())));
  CHECK(f.data_offset() == j.at("data_offset").get<uint64_t>());
  CHECK(f.alignment() == j.at("alignment").get<uint32_t>());
  const auto& kv = j.at("kv");
  REQUIRE(f.metadata().size() == kv.size());
  for (size_t k = 0; k < kv.size(); ++k) {
    const auto& [key, v] = f.metadata()[k];
    INFO("key " << key);
    CHECK(key == kv[k].at("key").get<std::string>());
    const auto types = kv[k].at("types").get<std::vector<uint32_t>>();
    CHECK(static_cast<uint32_t>(v.type) == types.at(0));
    if (v.type == GgufType::Array) {
      CHECK(static_cast<uint32_t>(v.elem_type) == types.at(1));
      CHECK(v.count == kv[k].at("count").get<uint64_t>());
    }
    CHECK(value_digest(v) == kv[k].at("sha256").get<std::string>());
  }
  const auto& ts = j.at("tensors");
  REQUIRE(f.tensors().size() == ts.size());
  for (size_t k = 0; k < ts.size(); ++k) {
    const auto& t = f.tensors()[k];
    INFO("tensor " << t.name);
    CHECK(t.name == ts[k].at("name").get<std::string>());
    CHECK(t.dims == ts[k].at("dims").get<std::vector<uint64_t>>());
    CHECK(static_cast<uint32_t>(t.type) == ts[k].at("type").get<uint32_t>());
    CHECK(t.offset == ts[k].at("offset").get<uint64_t>());
    CHECK(t.n_elements == ts[k].at("n_elements").get<uint64_t>());
    CHECK(t.n_bytes == ts[k].at("n_bytes").get<uint64_t>());
  }
}

struct ParityStats {
  size_t tensors = 0;
  uint64_t elements = 0;
  uint64_t bit_mismatches = 0;
  double max_abs_diff = 0.0;
};

// Streams the peer's dequantised values and compares them with ours, tensor by tensor.
ParityStats check_against_peer_values(const GgufFile& f) {
  const std::string cmd = quote(python()) + " " + quote(peer_script("gguf_peer.py").string()) + " dump " + quote(f.path());
  std::unique_ptr<FILE, int (*)(FILE*)> p(::popen(cmd.c_str(), "r"), ::pclose);
  REQUIRE(p);
  ParityStats s;
  std::vector<float> ours, theirs;
  for (const auto& t : f.tensors()) {
    INFO("tensor " << t.name << " (" << type_name(t.type) << ")");
    uint32_t name_len = 0;
    REQUIRE(std::fread(&name_len, 4, 1, p.get()) == 1);
    REQUIRE(name_len < 4096);
    std::string name(name_len, '\0');
    REQUIRE(std::fread(name.data(), 1, name_len, p.get()) == name_len);
    REQUIRE(name == t.name);
    uint64_t n = 0;
    REQUIRE(std::fread(&n, 8, 1, p.get()) == 1);
    REQUIRE(n == t.n_elements);
    const size_t row = static_cast<size_t>(t.row_length()), rows = static_cast<size_t>(t.n_rows());
    const size_t step = std::max<size_t>(1, (size_t{1} << 22) / std::max<size_t>(1, row));
    const uint64_t row_bytes = bytes_for(t.type, row);
    uint64_t mismatches = 0;
    double max_diff = 0.0;
    for (size_t r = 0; r < rows; r += step) {
      const size_t nr = std::min(step, rows - r);
      ours.resize(nr * row);
      theirs.resize(nr * row);
      dequantize_rows(t.type, t.data + r * row_bytes, ours.data(), nr, row);
      REQUIRE(std::fread(theirs.data(), 4, theirs.size(), p.get()) == theirs.size());
      for (size_t k = 0; k < ours.size(); ++k) {
        const float a = ours[k], b = theirs[k];
        if (std::memcmp(&a, &b, 4) == 0) continue;
        if (std::isnan(a) && std::isnan(b)) continue;
        ++mismatches;
        max_diff =
            std::max(max_diff, std::isfinite(a) && std::isfinite(b) ? std::fabs(double(a) - double(b)) : INFINITY);
      }
    }
    CHECK(max_diff <= 1e-6);
    s.tensors++;
    s.elements += n;
    s.bit_mismatches += mismatches;
    s.max_abs_diff = std::max(s.max_abs_diff, max_diff);
  }
  char extra;
  CHECK(std::fread(&extra, 1, 1, p.get()) == 0);  // nothing left over
  return s;
}

void report(const std::string& model, const ParityStats& s, double seconds) {
  WARN(model << ": " << s.tensors << " tensors, " << s.elements << " values compared with gguf.quants.dequantize; "
             << s.bit_mismatches << " differ bitwise, max |diff| " << s.max_abs_diff << " (" << seconds << " s)");
}

}  // namespace

TEST_CASE("SmolLM2 GGUF: metadata as the model defines it", "[integration]") {
  const auto path = smollm2_path();
  require_python_modules("gguf, numpy");
  const auto f = GgufFile::open(path.string());
  CHECK(f.version() == 3);
  CHECK(f.get_string("general.architecture") == "llama");
  CHECK(f.get_u32("llama.context_length") == 8192);
  CHECK(f.get_u32("llama.embedding_length") == 576);
  CHECK(f.get_u32("llama.block_count") == 30);
  CHECK(f.get_u32("llama.feed_forward_length") == 1536);
  CHECK(f.get_u32("llama.attention.head_count") == 9);
  CHECK(f.get_u32("llama.attention.head_count_kv") == 3);
  CHECK(f.get_f32("llama.rope.freq_base") == 100000.0f);
  CHECK(f.get_f32("llama.attention.layer_norm_rms_epsilon") == Approx(1e-5));
  CHECK(f.get_u32("general.file_type") == 3);  // mostly Q4_1
  CHECK(f.get_string("tokenizer.ggml.model") == "gpt2");
  const auto tokens = f.get_strings("tokenizer.ggml.tokens");
  CHECK(tokens.size() == f.get_u32("llama.vocab_size"));
  CHECK(tokens.size() == 49152);
  CHECK(f.get_ints("tokenizer.ggml.token_type").size() == tokens.size());
  CHECK(f.get_array_size("tokenizer.ggml.merges") == 48900);
  CHECK(f.get_u32("tokenizer.ggml.bos_token_id") < tokens.size());
  CHECK(f.get_u32("tokenizer.ggml.eos_token_id") < tokens.size());
  CHECK(f.has("tokenizer.chat_template"));
  CHECK(f.tensors().size() == 272);
  CHECK(f.tensor("token_embd.weight").dims == std::vector<uint64_t>{576, 49152});
  CHECK(f.tensor("token_embd.weight").type == GgmlType::Q8_0);
  CHECK(f.tensor("blk.29.ffn_down.weight").type == GgmlType::Q4_1);

  const ModelInfo mi = describe(f);
  CHECK(mi.architecture == "llama");
  CHECK(mi.vocab_size == 49152);
  CHECK(mi.context_length == 8192);
  CHECK(mi.tokenizer_model == "gpt2");
  CHECK(mi.has_chat_template);
  CHECK(mi.by_type.at("Q4_1").tensors == 210);
  CHECK(mi.by_type.at("F32").tensors == 61);
  CHECK(mi.by_type.at("Q8_0").tensors == 1);
  CHECK(mi.parameter_count > 134'000'000);
  CHECK(mi.parameter_count < 136'000'000);
}

TEST_CASE("SmolLM2 GGUF: metadata and tensor infos equal the gguf package's", "[integration]") {
  const auto path = smollm2_path();
  require_python_modules("gguf, numpy");
  check_against_peer_metadata(GgufFile::open(path.string()));
}

TEST_CASE("SmolLM2 GGUF: every tensor dequantises as gguf.quants does", "[integration]") {
  const auto path = smollm2_path();
  require_python_modules("gguf, numpy");
  const auto f = GgufFile::open(path.string());
  const auto t0 = std::chrono::steady_clock::now();
  const auto s = check_against_peer_values(f);
  report(path.filename().string(), s, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  CHECK(s.tensors == 272);
}

TEST_CASE("Gemma 3 GGUF: metadata, tensor infos and values equal the gguf package's", "[integration]") {
  const auto path = gemma3_path();  // fetched by scripts/setup.sh --test
  require_python_modules("gguf, numpy");
  const auto f = GgufFile::open(path.string());
  CHECK(f.get_string("general.architecture") == "gemma3");
  CHECK(f.get_string("tokenizer.ggml.model") == "llama");
  CHECK(f.get_array_size("tokenizer.ggml.tokens") == f.get_floats("tokenizer.ggml.scores").size());
  const ModelInfo mi = describe(f);
  CHECK(mi.by_type.count("Q4_K") == 1);
  CHECK(mi.by_type.count("Q6_K") == 1);
  CHECK(mi.by_type.count("Q5_0") == 1);
  check_against_peer_metadata(f);
  const auto t0 = std::chrono::steady_clock::now();
  const auto s = check_against_peer_values(f);
  report(path.filename().string(), s, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  CHECK(s.tensors == f.tensors().size());
}
