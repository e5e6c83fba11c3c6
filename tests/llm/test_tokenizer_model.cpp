// SmolLM2's byte-level BPE tokenizer against Hugging Face `tokenizers` built from the same GGUF
// vocabulary (tests/llm/tokenizer_peer.py): identical ids on ManimBench descriptions and code,
// Unicode, whitespace runs, digits and chat markup; decode(encode(s)) == s. The model file and the
// Python packages are required: the test fails with the fix when they are missing.
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "mtk/core/fs.hpp"
#include "mtk/core/jsonl.hpp"
#include "peer.hpp"
#include "texts.hpp"
#include "mtk/llm/gguf.hpp"
#include "mtk/llm/tokenizer.hpp"
#include "mtk/llm/tokenizer_bpe.hpp"

using namespace mtk::llm;
using namespace mtk::test;
namespace stdfs = std::filesystem;

namespace {

void require_model_and_peer() {
  smollm2_path();
  require_python_modules("gguf, tokenizers");
}

std::vector<std::string> all_manimbench_code() {
  std::vector<std::string> out;
  mtk::read_jsonl(manimbench_path().string(), "dataset",
                  [&](const nlohmann::json& j, size_t) { out.push_back(mtk::json_string_field(j, "code")); });
  return out;
}

// Runs the peer with `args` on `texts` (JSON on stdin) and returns its JSON answer.
nlohmann::json run_peer(const std::string& args, const std::vector<std::string>& texts) {
  auto j = run_peer_json("tokenizer_peer.py", args, texts);
  REQUIRE(j.size() == texts.size());
  return j;
}

// The peer's token ids for `texts` (mode "special" or "plain").
std::vector<std::vector<int32_t>> peer_ids(const std::vector<std::string>& texts, const char* mode) {
  return run_peer(quote(smollm2_path().string()) + " " + mode, texts).get<std::vector<std::vector<int32_t>>>();
}

// SmolLM2's vocabulary has no token for these control bytes (nor for bytes that never occur in
// UTF-8): they are dropped, by the peer as well, so decode(encode(s)) is s without them.
std::string without_dropped(const std::string& s) {
  std::string out;
  for (char c : s)
    if (std::string("\x04\x06\x13\x14\x16\x1d").find(c) == std::string::npos) out += c;
  return out;
}

std::string show(const std::string& s) { return nlohmann::json(s).dump(); }

std::string show(const std::vector<int32_t>& ids) { return nlohmann::json(ids).dump(); }

}  // namespace

TEST_CASE("SmolLM2 tokenizer: metadata", "[integration][tokenizer]") {
  require_model_and_peer();
  const GgufFile f = GgufFile::open(smollm2_path().string());
  const auto tok = load_tokenizer(f);
  CHECK(tok->model() == "gpt2");
  CHECK(tok->vocab_size() == 49152);
  CHECK(tok->bos() == 1);
  CHECK(tok->eos() == 2);
  CHECK_FALSE(tok->add_bos());
  CHECK(tok->token_text(1) == "<|im_start|>");
  CHECK(tok->token_id("<|im_end|>") == 2);
  CHECK(tok->is_special(0));
  CHECK_FALSE(tok->is_special(100));
  const auto* bpe = dynamic_cast<const BpeTokenizer*>(tok.get());
  REQUIRE(bpe);
  CHECK(bpe->pre_rule() == "smollm");
  CHECK(bpe->skipped_merges() == 0);
  CHECK(bpe->n_merges() == 48900);
  CHECK(tok->encode("<|im_start|>", true, true) == std::vector<int32_t>{1});  // add_bos_token is false
}

TEST_CASE("SmolLM2 tokenizer: ids equal Hugging Face tokenizers'", "[integration][tokenizer]") {
  require_model_and_peer();
  const GgufFile f = GgufFile::open(smollm2_path().string());
  const auto tok = load_tokenizer(f);
  std::vector<std::string> texts = manimbench_texts(150);
  REQUIRE(texts.size() == 300);
  for (auto& s : edge_texts()) texts.push_back(s);

  for (const char* mode : {"special", "plain"}) {
    const bool parse_special = std::string(mode) == "special";
    const auto want = peer_ids(texts, mode);
    size_t mismatches = 0, tokens = 0;
    for (size_t k = 0; k < texts.size(); ++k) {
      const auto got = tok->encode(texts[k], false, parse_special);
      tokens += got.size();
      if (got != want[k]) {
        ++mismatches;
        UNSCOPED_INFO("mode " << mode << ", text " << k << " " << show(texts[k]) << "\n  ours " << show(got)
                              << "\n  peer " << show(want[k]));
      }
      if (tok->decode(got) != without_dropped(texts[k])) {
        ++mismatches;
        UNSCOPED_INFO("mode " << mode << ", text " << k << " " << show(texts[k]) << " decodes to "
                              << show(tok->decode(got)));
      }
    }
    WARN("parity (" << mode << "): " << texts.size() << " texts, " << tokens << " tokens, " << mismatches
                    << " mismatches");
    CHECK(mismatches == 0);
  }
}

TEST_CASE("pre-tokenizer rules cut texts as Hugging Face tokenizers' pre-tokenizers do", "[integration][tokenizer]") {
  require_model_and_peer();
  std::vector<std::string> texts = manimbench_texts(150);
  for (auto& s : edge_texts()) texts.push_back(s);
  for (const char* pre : {"gpt2", "smollm", "llama3", "qwen2"}) {
    const PreTokenizer p(pre_tokenizer_rule(pre).regexes);
    const auto want = run_peer(std::string("pretok ") + pre, texts).get<std::vector<std::vector<std::string>>>();
    size_t mismatches = 0, pieces = 0;
    for (size_t k = 0; k < texts.size(); ++k) {
      std::vector<std::string> got;
      for (auto v : p.split(texts[k])) got.emplace_back(v);
      pieces += got.size();
      if (got != want[k]) {
        ++mismatches;
        UNSCOPED_INFO("rule " << pre << ", text " << k << " " << show(texts[k]) << "\n  ours "
                              << nlohmann::json(got).dump() << "\n  peer " << nlohmann::json(want[k]).dump());
      }
    }
    WARN("pre-tokenizer " << pre << " (JIT " << p.jit() << "): " << texts.size() << " texts, " << pieces
                          << " pieces, " << mismatches << " mismatches");
    CHECK(mismatches == 0);
  }
}

TEST_CASE("SmolLM2 tokenizer: speed on the ManimBench code set", "[integration][tokenizer]") {
  require_model_and_peer();
  const GgufFile f = GgufFile::open(smollm2_path().string());
  const auto tok = load_tokenizer(f);
  const std::vector<std::string> codes = all_manimbench_code();
  REQUIRE(!codes.empty());
  size_t bytes = 0;
  for (const auto& c : codes) bytes += c.size();
  for (int pass = 0; pass < 2; ++pass) {  // a cold pass (empty cache), then a warm one
    const auto t0 = std::chrono::steady_clock::now();
    size_t tokens = 0;
    for (const auto& c : codes) tokens += tok->encode(c, false, true).size();
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    WARN((pass == 0 ? "cold" : "warm") << " encode of " << codes.size() << " ManimBench codes (" << bytes
                                      << " bytes, " << tokens << " tokens): " << s * 1e3 << " ms, "
                                      << tokens / s << " tokens/s");
  }
}
