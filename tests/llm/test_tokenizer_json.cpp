// Byte-level BPE from Hugging Face tokenizer.json: a real tokenizer.json written by the `tokenizers`
// package from SmolLM2's vocabulary (tests/llm/tokenizer_json_peer.py), with the smollm, llama3 and
// qwen2 pre-tokenizers, must give the same ids as `tokenizers` on ManimBench and edge texts (with
// and without the post-processor's special tokens); small hand-written files cover the mapping of
// added tokens, tokenizer_config.json and the errors for what is not supported.
#include <catch2/catch.hpp>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "mtk/core/error.hpp"
#include "mtk/core/fs.hpp"
#include "mtk/llm/gguf.hpp"
#include "mtk/llm/tokenizer.hpp"
#include "mtk/llm/tokenizer_bpe.hpp"
#include "mtk/llm/tokenizer_json.hpp"
#include "peer.hpp"
#include "texts.hpp"

using namespace mtk::llm;
using namespace mtk::test;
using Catch::Matchers::Contains;
using json = nlohmann::json;
namespace stdfs = std::filesystem;

namespace {

std::string show(const std::vector<int32_t>& ids) { return json(ids).dump(); }

// A tiny byte-level BPE tokenizer.json: the 256 byte tokens (ids 0..255), "ab" (256), "abc" (257).
json tiny() {
  json vocab = json::object();
  for (int b = 0; b < 256; ++b) {
    std::string s(1, static_cast<char>(b));
    vocab[gpt2_bytes_to_unicode(s)] = b;
  }
  vocab["ab"] = 256;
  vocab["abc"] = 257;
  return {{"version", "1.0"},
          {"added_tokens",
           {{{"id", 258}, {"content", "<|end|>"}, {"special", true}},
            {{"id", 261}, {"content", "<x>"}, {"special", false}}}},
          {"normalizer", nullptr},
          {"pre_tokenizer",
           {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", true}}},
          {"post_processor", {{"type", "ByteLevel"}, {"trim_offsets", false}}},
          {"decoder", {{"type", "ByteLevel"}}},
          {"model",
           {{"type", "BPE"},
            {"dropout", nullptr},
            {"unk_token", nullptr},
            {"ignore_merges", false},
            {"byte_fallback", false},
            {"vocab", vocab},
            {"merges", {{"a", "b"}, "ab c"}}}}};
}

void expect_error(const json& tj, const std::string& phrase, const json* config = nullptr) {
  INFO("expected an error containing: " << phrase);
  CHECK_THROWS_AS(load_tokenizer_json(tj, config, "tiny/tokenizer.json"), mtk::Error);
  CHECK_THROWS_WITH(load_tokenizer_json(tj, config, "tiny/tokenizer.json"),
                    Contains(phrase) && Contains("tiny/tokenizer.json") && Contains("fix:"));
}

}  // namespace

TEST_CASE("tokenizer.json: a small byte-level BPE file", "[unit][tokenizer_json]") {
  const json tj = tiny();
  const auto tok = load_tokenizer_json(tj, nullptr, "tiny/tokenizer.json");
  CHECK(tok->model() == "gpt2");
  CHECK(tok->vocab_size() == 262);  // ids 259 and 260 are placeholders
  CHECK(tok->token_type(258) == TokenType::Control);
  CHECK(tok->token_type(261) == TokenType::UserDefined);
  CHECK(tok->token_type(259) == TokenType::Unused);
  CHECK(tok->token_type(32) == TokenType::Normal);
  CHECK(tok->bos() == -1);
  CHECK(tok->eos() == -1);
  CHECK(tok->encode("abc ab<|end|><x>", true, true) == std::vector<int32_t>{257, 32, 256, 258, 261});
  CHECK(tok->decode({257, 32, 256, 258, 261}) == "abc ab<|end|><x>");
  CHECK(tok->decode({257, 258}, true) == "abc");
  const auto* bpe = dynamic_cast<const BpeTokenizer*>(tok.get());
  REQUIRE(bpe);
  CHECK(bpe->pre_rule() == "gpt2");
  CHECK(bpe->n_merges() == 2);

  SECTION("tokenizer_config.json: bos/eos as string or object, add_bos_token") {
    const json cfg = {{"bos_token", {{"content", "<|end|>"}, {"__type", "AddedToken"}}},
                      {"eos_token", "<x>"},
                      {"add_bos_token", true}};
    const auto t2 = load_tokenizer_json(tj, &cfg, "tiny/tokenizer.json");
    CHECK(t2->bos() == 258);
    CHECK(t2->eos() == 261);
    CHECK(t2->add_bos());
    CHECK_FALSE(t2->add_eos());
    CHECK(t2->encode("ab", true, true) == std::vector<int32_t>{258, 256});
    CHECK(t2->encode("ab", false, true) == std::vector<int32_t>{256});
    const json null_bos = {{"bos_token", nullptr}, {"eos_token", "a"}};  // a normal token works too
    CHECK(load_tokenizer_json(tj, &null_bos, "x")->eos() == static_cast<int32_t>('a'));
  }
  SECTION("post-processors") {
    json t = tj;
    t["post_processor"] = {{"type", "TemplateProcessing"},
                           {"single",
                            {{{"SpecialToken", {{"id", "<|end|>"}, {"type_id", 0}}}},
                             {{"Sequence", {{"id", "A"}, {"type_id", 0}}}},
                             {{"SpecialToken", {{"id", "<x>"}, {"type_id", 0}}}}}},
                           {"special_tokens", json::object()}};
    const auto t3 = load_tokenizer_json(t, nullptr, "x");
    CHECK(t3->encode("ab", true, true) == std::vector<int32_t>{258, 256, 261});
    t["post_processor"] = {{"type", "RobertaProcessing"}, {"cls", {"<|end|>", 258}}, {"sep", {"<x>", 261}}};
    CHECK(load_tokenizer_json(t, nullptr, "x")->encode("ab", true, true) == std::vector<int32_t>{258, 256, 261});
  }
  SECTION("a file on disk") {
    const stdfs::path p = write_temp("tokenizer.json", tj.dump());
    CHECK(load_tokenizer_json(p.string())->vocab_size() == 262);
    stdfs::remove(p);
    const stdfs::path bad = write_temp("bad-tokenizer.json", "{\"model\": ");
    CHECK_THROWS_WITH(load_tokenizer_json(bad.string()), Contains("is not valid JSON"));
    stdfs::remove(bad);
  }
}

TEST_CASE("tokenizer.json: what is not supported ends in a clear error", "[unit][tokenizer_json]") {
  SECTION("Unigram / WordPiece") {
    json t = tiny();
    t["model"]["type"] = "Unigram";
    expect_error(t, "the tokenizer model type \"Unigram\" is not supported");
    t["model"]["type"] = "WordPiece";
    expect_error(t, "\"WordPiece\" is not supported");
  }
  SECTION("SentencePiece-style BPE") {
    json t = tiny();
    t["model"]["byte_fallback"] = true;
    expect_error(t, "byte_fallback");
  }
  SECTION("unknown pre-tokenizer") {
    json t = tiny();
    t["pre_tokenizer"] = {{"type", "Metaspace"}, {"replacement", "_"}};
    expect_error(t, "the pre-tokenizer {\"replacement\":\"_\",\"type\":\"Metaspace\"} is not supported");
    t["pre_tokenizer"] = {
        {"type", "Sequence"},
        {"pretokenizers",
         {{{"type", "Split"}, {"pattern", {{"Regex", "\\s+"}}}, {"behavior", "Isolated"}, {"invert", false}},
          {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", false}}}}};
    expect_error(t, "matches none of the known rules");
    t["pre_tokenizer"] = nullptr;
    expect_error(t, "without a pre_tokenizer");
    t["pre_tokenizer"] = {{"type", "ByteLevel"}, {"add_prefix_space", true}};
    expect_error(t, "add_prefix_space=true");
  }
  SECTION("normalizer") {
    json t = tiny();
    t["normalizer"] = {{"type", "Lowercase"}};
    expect_error(t, "the normalizer {\"type\":\"Lowercase\"} is not supported");
  }
  SECTION("malformed vocabulary and merges") {
    json t = tiny();
    t["model"]["vocab"]["zz"] = -3;
    expect_error(t, "token \"zz\" has the id -3");
    t = tiny();
    t["model"]["vocab"]["zz"] = 256;
    expect_error(t, "share the id 256");
    t = tiny();
    t["model"]["vocab"]["zz"] = 1u << 30;
    expect_error(t, "over the limit");
    t = tiny();
    t["model"]["merges"].push_back("abc");
    expect_error(t, "the merge \"abc\" is not \"left right\"");
    t = tiny();
    t["model"]["merges"].push_back(json::array({1, 2}));
    expect_error(t, "is neither");
    t = tiny();
    t["model"].erase("vocab");
    expect_error(t, "model.vocab is not an object");
    expect_error(json::array(), "not a JSON object");
  }
  SECTION("tokenizer_config.json naming a token that is not there") {
    const json cfg = {{"bos_token", "<s>"}};
    expect_error(tiny(), "bos_token \"<s>\" is not a token", &cfg);
    const json cfg2 = {{"eos_token", 5}};
    expect_error(tiny(), "eos_token is neither a string", &cfg2);
  }
}

namespace {

struct PeerResult {
  stdfs::path dir;
  std::vector<std::vector<int32_t>> with, without;
};

PeerResult run_json_peer(const std::string& variant, const std::vector<std::string>& texts) {
  PeerResult r;
  r.dir = mtk::fs::make_temp_dir(stdfs::temp_directory_path(), "mtk-tokjson-");
  const stdfs::path input = r.dir / "texts.json";
  mtk::fs::atomic_write(input, json(texts).dump());
  const std::string cmd = quote(python()) + " " + quote(peer_script("tokenizer_json_peer.py").string()) + " " +
                          quote(smollm2_path().string()) + " " + variant + " " + quote(r.dir.string()) + " < " +
                          quote(input.string());
  const json j = json::parse(run_checked(cmd));
  r.with = j.at("with").get<std::vector<std::vector<int32_t>>>();
  r.without = j.at("without").get<std::vector<std::vector<int32_t>>>();
  REQUIRE(r.with.size() == texts.size());
  REQUIRE(r.without.size() == texts.size());
  return r;
}

}  // namespace

TEST_CASE("tokenizer.json: ids equal Hugging Face tokenizers' (smollm, llama3, qwen2)",
          "[integration][tokenizer_json]") {
  smollm2_path();
  require_python_modules("gguf, tokenizers");
  std::vector<std::string> texts = manimbench_texts(150);
  REQUIRE(texts.size() == 300);
  for (auto& s : edge_texts()) texts.push_back(s);

  // The same vocabulary read from the GGUF file, for the token-level comparison.
  const auto gguf_tok = load_tokenizer(GgufFile::open(smollm2_path().string()));

  for (const std::string variant : {"smollm", "llama3", "qwen2"}) {
    INFO("variant " << variant);
    const PeerResult peer = run_json_peer(variant, texts);
    const stdfs::path cfg_path = peer.dir / "tokenizer_config.json";
    json cfg;
    if (stdfs::exists(cfg_path)) cfg = json::parse(mtk::fs::read_file(cfg_path));
    const auto tok = load_tokenizer_json((peer.dir / "tokenizer.json").string(), cfg.is_null() ? nullptr : &cfg);
    const auto* bpe = dynamic_cast<const BpeTokenizer*>(tok.get());
    REQUIRE(bpe);
    CHECK(bpe->pre_rule() == variant);
    CHECK(tok->vocab_size() == gguf_tok->vocab_size());
    CHECK(bpe->n_merges() == 48900);
    CHECK(bpe->skipped_merges() == 0);
    for (int32_t id = 0; id < tok->vocab_size(); id += 97) {
      CHECK(tok->token_text(id) == gguf_tok->token_text(id));
      CHECK(tok->token_type(id) == gguf_tok->token_type(id));
    }
    if (variant == "smollm") {
      CHECK(tok->bos() == 1);
      CHECK(tok->eos() == 2);
      CHECK_FALSE(tok->add_bos());
      CHECK_FALSE(tok->add_eos());
    } else if (variant == "llama3") {
      CHECK(tok->bos() == 1);
      CHECK(tok->eos() == 0);
      CHECK(tok->add_bos());
      CHECK_FALSE(tok->add_eos());
    } else {
      CHECK(tok->bos() == -1);
      CHECK(tok->eos() == 0);
      CHECK_FALSE(tok->add_bos());
      CHECK(tok->add_eos());
    }

    size_t mismatches = 0, tokens = 0;
    for (size_t k = 0; k < texts.size(); ++k) {
      for (const bool add_special : {true, false}) {
        const auto got = tok->encode(texts[k], add_special, true);
        const auto& want = add_special ? peer.with[k] : peer.without[k];
        tokens += got.size();
        if (got != want) {
          ++mismatches;
          UNSCOPED_INFO(variant << ", add_special " << add_special << ", text " << k << " " << json(texts[k]).dump()
                                << "\n  ours " << show(got) << "\n  peer " << show(want));
        }
      }
    }
    WARN("tokenizer.json parity (" << variant << "): " << texts.size() << " texts, " << tokens << " tokens, "
                                   << mismatches << " mismatches");
    CHECK(mismatches == 0);
    std::error_code ec;
    stdfs::remove_all(peer.dir, ec);
  }
}
