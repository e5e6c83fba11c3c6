// SentencePiece tokenizer (tokenizer_spm.hpp): unit tests on a small hand-made vocabulary, and
// parity with llama.cpp (tests/llm/llamacpp_peer.py, llama-cpp-python) on Gemma 3's vocabulary and on
// SmolLM2's byte-level BPE vocabulary: identical ids on ManimBench descriptions and code, Unicode,
// whitespace runs, digits, special tokens and malformed UTF-8, with and without special-token
// parsing, and decode(encode(s)) == s. The parity tests need the model files and llama_cpp: they fail
// with the fix when either is missing.
#include <catch2/catch.hpp>
#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "gguf_writer.hpp"
#include "mtk/core/error.hpp"
#include "mtk/core/fs.hpp"
#include "mtk/llm/gguf.hpp"
#include "mtk/llm/tokenizer.hpp"
#include "mtk/llm/tokenizer_spm.hpp"
#include "peer.hpp"
#include "texts.hpp"

using namespace mtk::llm;
using namespace mtk::test;
namespace stdfs = std::filesystem;

namespace {

const std::string kSp = "\xE2\x96\x81";  // "▁"

// <unk> <s> </s>, the 256 byte tokens (ids 3..258), then `normal` (with scores), then user-defined.
struct Tiny {
  SpmVocab v;
  int32_t id(const std::string& t) const {
    for (size_t i = 0; i < v.tokens.size(); ++i)
      if (v.tokens[i] == t) return static_cast<int32_t>(i);
    FAIL("no token " << t);
    return -1;
  }
  static int32_t byte(int b) { return 3 + b; }
};

Tiny tiny(const std::vector<std::pair<std::string, float>>& normal, const std::vector<std::string>& user = {},
          bool add_space_prefix = false) {
  Tiny t;
  SpmVocab& v = t.v;
  v.tokens = {"<unk>", "<s>", "</s>"};
  v.types = {2, 3, 3};
  v.scores = {0, 0, 0};
  static const char* hex = "0123456789ABCDEF";
  for (int b = 0; b < 256; ++b) {
    v.tokens.push_back(std::string("<0x") + hex[b >> 4] + hex[b & 15] + ">");
    v.types.push_back(6);
    v.scores.push_back(0);
  }
  for (const auto& [text, score] : normal) {
    v.tokens.push_back(text);
    v.types.push_back(1);
    v.scores.push_back(score);
  }
  for (const auto& u : user) {
    v.tokens.push_back(u);
    v.types.push_back(4);
    v.scores.push_back(0);
  }
  v.unk = 0;
  v.bos = 1;
  v.eos = 2;
  v.add_bos = true;
  v.add_space_prefix = add_space_prefix;
  return t;
}

std::string show(const std::string& s) {
  return nlohmann::json(s).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}
std::string show(const std::vector<int32_t>& ids) { return nlohmann::json(ids).dump(); }

std::string to_hex(const std::string& s) {
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (unsigned char c : s) {
    out += hex[c >> 4];
    out += hex[c & 15];
  }
  return out;
}

}  // namespace

TEST_CASE("SpmTokenizer: BPE merges by score, leftmost on ties", "[unit][spm]") {
  // "abc": pairs "ab" (-2) and "bc" (-1): bc first, then "abc" (-3) from a + bc.
  Tiny t = tiny({{"a", -10}, {"b", -10}, {"c", -10}, {"ab", -2}, {"bc", -1}, {"abc", -3}});
  SpmTokenizer tok(t.v);
  CHECK(tok.model() == "llama");
  CHECK(tok.vocab_size() == static_cast<int32_t>(t.v.tokens.size()));
  CHECK(tok.encode("abc", false, true) == std::vector<int32_t>{t.id("abc")});
  CHECK(tok.encode("ab", false, true) == std::vector<int32_t>{t.id("ab")});
  CHECK(tok.encode("abab", false, true) == std::vector<int32_t>{t.id("ab"), t.id("ab")});
  // Without "abc", "abc" ends as a + bc (bc scores higher than ab).
  Tiny t2 = tiny({{"a", -10}, {"b", -10}, {"c", -10}, {"ab", -2}, {"bc", -1}});
  SpmTokenizer tok2(t2.v);
  CHECK(tok2.encode("abc", false, true) == std::vector<int32_t>{t2.id("a"), t2.id("bc")});
  // Ties: "aaa" with "aa" merges the leftmost pair first.
  Tiny t3 = tiny({{"a", -10}, {"aa", -1}});
  SpmTokenizer tok3(t3.v);
  CHECK(tok3.encode("aaa", false, true) == std::vector<int32_t>{t3.id("aa"), t3.id("a")});
  // add_special: BOS (add_bos_token defaults to true), no EOS.
  CHECK(tok.encode("ab", true, true) == std::vector<int32_t>{1, t.id("ab")});
  CHECK(tok.encode("", true, true) == std::vector<int32_t>{1});
  CHECK(tok.encode("", false, true).empty());
}

TEST_CASE("SpmTokenizer: spaces, byte fallback and malformed UTF-8", "[unit][spm]") {
  Tiny t = tiny({{kSp, -5}, {"a", -10}, {kSp + "a", -1}, {"b", -10}});
  SpmTokenizer tok(t.v);
  CHECK(tok.encode("a a", false, true) == std::vector<int32_t>{t.id("a"), t.id(kSp + "a")});
  CHECK(tok.encode("  ", false, true) == std::vector<int32_t>{t.id(kSp), t.id(kSp)});
  // A character without a token: its UTF-8 bytes.
  CHECK(tok.encode("a\xC3\xA9", false, true) == std::vector<int32_t>{t.id("a"), Tiny::byte(0xC3), Tiny::byte(0xA9)});
  // A tab has no token either.
  CHECK(tok.encode("\t", false, true) == std::vector<int32_t>{Tiny::byte(9)});
  // Malformed UTF-8, cut as llama.cpp cuts it: the lead byte E6 claims 3 bytes ("\xE6ab"), which
  // become byte tokens although 'a' and 'b' have tokens.
  CHECK(tok.encode("\xE6" "ab", false, true) ==
        std::vector<int32_t>{Tiny::byte(0xE6), Tiny::byte('a'), Tiny::byte('b')});
  CHECK(tok.encode("a\x80" "b", false, true) == std::vector<int32_t>{t.id("a"), Tiny::byte(0x80), t.id("b")});
  // The escaped space counts in the cut: E6 + the first two bytes of "▁".
  CHECK(tok.encode("\xE6 a", false, true) ==
        std::vector<int32_t>{Tiny::byte(0xE6), Tiny::byte(0xE2), Tiny::byte(0x96), Tiny::byte(0x81), t.id("a")});
  // Surrogates and overlong forms are malformed.
  CHECK(tok.encode("\xED\xA0\x80", false, true) ==
        std::vector<int32_t>{Tiny::byte(0xED), Tiny::byte(0xA0), Tiny::byte(0x80)});
  CHECK(tok.encode("\xC0\x80", false, true) == std::vector<int32_t>{Tiny::byte(0xC0), Tiny::byte(0x80)});
  // NUL is an ordinary character.
  CHECK(tok.encode(std::string("a\0b", 3), false, true) ==
        std::vector<int32_t>{t.id("a"), Tiny::byte(0), t.id("b")});
  for (const std::string s : {"a a", "a\xC3\xA9\t", "\xF0\x9F\x8E\x89 !", "\xFF\xFE", "\xE6\x97"}) {
    INFO(show(s));
    CHECK(tok.decode(tok.encode(s, false, true)) == s);
  }
  // Inherent (llama.cpp too): the escaped space inside a malformed character comes back as the
  // bytes of "▁", and a "▁" in the text comes back as a space.
  CHECK(tok.decode(tok.encode("\xE6 a", false, true)) == "\xE6" + kSp + "a");
  CHECK(tok.decode(tok.encode(kSp + "a", false, true)) == " a");
}

TEST_CASE("SpmTokenizer: special and user-defined tokens", "[unit][spm]") {
  Tiny t = tiny({{"a", -10}, {"<", -10}, {"s", -10}, {">", -10}, {"/", -10}}, {"<u>", "\n", "\n\n"});
  SpmTokenizer tok(t.v);
  const int32_t a = t.id("a"), u = t.id("<u>"), nl = t.id("\n"), nl2 = t.id("\n\n");
  // Control tokens only with parse_special; user-defined ones always.
  CHECK(tok.encode("a<s>a", false, true) == std::vector<int32_t>{a, 1, a});
  CHECK(tok.encode("a<s>a", false, false) ==
        std::vector<int32_t>{a, t.id("<"), t.id("s"), t.id(">"), a});
  CHECK(tok.encode("a<u>a", false, false) == std::vector<int32_t>{a, u, a});
  CHECK(tok.encode("a<u>a", false, true) == std::vector<int32_t>{a, u, a});
  // Longest first: "\n\n\n" is "\n\n" + "\n".
  CHECK(tok.encode("\n\n\na\n", false, false) == std::vector<int32_t>{nl2, nl, a, nl});
  CHECK(tok.encode("</s><s>", false, true) == std::vector<int32_t>{2, 1});
  const auto split = tok.split_special("x<u>y</s>", true);
  REQUIRE(split.size() == 4);
  CHECK(split[0].text == "x");
  CHECK(split[1].special == u);
  CHECK(split[3].special == 2);
  // decode: control tokens as text unless skipped; user-defined always.
  const std::vector<int32_t> ids = {1, a, u, nl, 2};
  CHECK(tok.decode(ids) == "<s>a<u>\n</s>");
  CHECK(tok.decode(ids, true) == "a<u>\n");
  CHECK(tok.is_special(1));
  CHECK(tok.is_special(0));  // unknown
  CHECK_FALSE(tok.is_special(u));
  CHECK(tok.token_type(u) == TokenType::UserDefined);
  CHECK(tok.token_type(-1) == TokenType::Undefined);
  CHECK(tok.token_id("<u>") == u);
  CHECK(tok.token_id("<s>") == 1);
  CHECK(tok.token_id("a") == a);
  CHECK(tok.token_id("\t") == Tiny::byte(9));
  CHECK(tok.token_id("nope") == -1);
  CHECK(tok.token_text(Tiny::byte(0x41)) == "A");
  CHECK_THROWS_AS(tok.decode({static_cast<int32_t>(t.v.tokens.size())}), mtk::Error);
  CHECK_THROWS_AS(tok.token_text(-1), mtk::Error);
}

TEST_CASE("SpmTokenizer: end-of-turn markers are control tokens, as llama.cpp makes them", "[unit][spm]") {
  Tiny t = tiny({{"a", -10}, {"<", -10}, {">", -10}, {"x", -10}}, {"<x>", "<|im_end|>"});
  SpmTokenizer tok(t.v);
  const int32_t im_end = t.id("<|im_end|>"), x = t.id("<x>");
  CHECK(tok.token_type(im_end) == TokenType::Control);  // stored as user-defined
  CHECK(tok.token_type(x) == TokenType::UserDefined);
  CHECK(tok.encode("a<|im_end|>", false, true) == std::vector<int32_t>{t.id("a"), im_end});
  const auto plain = tok.encode("<x><|im_end|>", false, false);
  REQUIRE(plain.size() > 2);
  CHECK(plain[0] == x);
  CHECK(std::find(plain.begin(), plain.end(), im_end) == plain.end());
  CHECK(tok.decode({x, im_end}, true) == "<x>");
}

TEST_CASE("SpmTokenizer: add_space_prefix as llama.cpp", "[unit][spm]") {
  Tiny t = tiny({{kSp, -5}, {"a", -10}, {kSp + "a", -1}}, {}, /*add_space_prefix=*/true);
  SpmTokenizer tok(t.v);
  const int32_t sa = t.id(kSp + "a");
  CHECK(tok.encode("a", false, true) == std::vector<int32_t>{sa});
  CHECK(tok.encode("a", true, true) == std::vector<int32_t>{1, sa});
  // Every fragment after a special token gets the space again.
  CHECK(tok.encode("a</s>a", false, true) == std::vector<int32_t>{sa, 2, sa});
  CHECK(tok.decode(tok.encode("a a", false, true)) == "a a");
  CHECK(tok.decode({sa, sa}) == "a a");
}

TEST_CASE("SpmTokenizer: errors name the problem", "[unit][spm]") {
  {
    Tiny t = tiny({{"a", 0}, {"a", 0}});
    CHECK_THROWS_WITH(SpmTokenizer(t.v), Catch::Contains("duplicate token"));
  }
  {
    Tiny t = tiny({{"a", 0}});
    t.v.bos = -1;
    CHECK_THROWS_WITH(SpmTokenizer(t.v), Catch::Contains("bos_token_id") && Catch::Contains("fix:"));
  }
  {
    Tiny t = tiny({{"a", 0}});
    t.v.scores.pop_back();
    CHECK_THROWS_WITH(SpmTokenizer(t.v), Catch::Contains("scores"));
  }
  {
    SpmVocab v;
    CHECK_THROWS_WITH(SpmTokenizer(v), Catch::Contains("empty"));
  }
  {
    Tiny t = tiny({{"a", 0}, {"", 0}});  // empty tokens are renamed as llama.cpp does
    SpmTokenizer tok(t.v);
    CHECK(tok.piece(static_cast<int32_t>(t.v.tokens.size()) - 1) ==
          "[EMPTY_" + std::to_string(t.v.tokens.size() - 1) + "]");
  }
}

TEST_CASE("load_tokenizer builds an SpmTokenizer from GGUF keys", "[unit][spm]") {
  using mtk::testing::Enc;
  using mtk::testing::GgufBuilder;
  Tiny t = tiny({{kSp, -5}, {"a", -10}, {kSp + "a", -1}}, {"<u>"});
  std::string toks, scores, types;
  for (size_t i = 0; i < t.v.tokens.size(); ++i) {
    toks += Enc::str(t.v.tokens[i]);
    scores += Enc::f32(t.v.scores[i]);
    types += Enc::i32(t.v.types[i]);
  }
  const auto n = t.v.tokens.size();
  GgufBuilder b;
  b.kv_str("tokenizer.ggml.model", "llama");
  b.kv("tokenizer.ggml.tokens", mtk::testing::kArray, Enc::u32(mtk::testing::kString) + Enc::u64(n) + toks);
  b.kv("tokenizer.ggml.scores", mtk::testing::kArray, Enc::u32(mtk::testing::kF32) + Enc::u64(n) + scores);
  b.kv("tokenizer.ggml.token_type", mtk::testing::kArray, Enc::u32(mtk::testing::kI32) + Enc::u64(n) + types);
  b.kv("tokenizer.ggml.bos_token_id", mtk::testing::kU32, Enc::u32(1));
  b.kv("tokenizer.ggml.eos_token_id", mtk::testing::kU32, Enc::u32(2));
  b.kv("tokenizer.ggml.unknown_token_id", mtk::testing::kU32, Enc::u32(0));
  b.kv("tokenizer.ggml.add_space_prefix", mtk::testing::kBool, Enc::u8(0));
  const GgufFile f = GgufFile::from_bytes(b.build());
  const auto tok = load_tokenizer(f);
  REQUIRE(dynamic_cast<const SpmTokenizer*>(tok.get()));
  CHECK(tok->model() == "llama");
  CHECK(tok->bos() == 1);
  CHECK(tok->eos() == 2);
  CHECK(tok->add_bos());
  CHECK_FALSE(tok->add_eos());
  CHECK(tok->encode("a a<u>", true, true) == std::vector<int32_t>{1, t.id("a"), t.id(kSp + "a"), t.id("<u>")});
}

// ---- parity with llama.cpp --------------------------------------------------------------------

namespace {

// Texts beyond texts.hpp's: SentencePiece and Gemma specifics (escaped spaces, Gemma's control and
// user-defined tokens, whitespace runs around its user-defined run lengths), malformed UTF-8 and
// random mixes.
std::vector<std::string> spm_texts() {
  std::vector<std::string> v = {
      "",
      "  ",
      " leading space",
      "trailing space ",
      " \n",
      "\n ",
      std::string(100, '\t') + "y",
      std::string(33, ' '),
      std::string("a\0b\x01" "c\x7f", 6),
      "a\x04" "b\x13" "c \x16",
      "\xEF\xBF\xBD replacement char",
      // Gemma's control and user-defined tokens, and near misses.
      "<start_of_turn>user\nDraw a circle.<end_of_turn>\n<start_of_turn>model\n",
      "<bos><start_of_turn>user\nhi<end_of_turn>",
      "text<eos>more<pad><unk><mask>",
      "<unused0><unused99> <unused6241>",
      "<start_of_turn><start_of_turn>  <end_of_turn>",
      "<start_of_tur partial <end_of_turn and <startofturn>",
      "<b>bold</b> <i>it</i> <h1>T</h1> <table><tr><td>1</td></tr></table>",
      "<s>x</s> <code>y</code> [multimodal] <start_of_image><end_of_image>",
      "<0x41> <0x0A> <0xZZ>",
      "▁ already escaped ▁▁ spaces",
      // SmolLM2's special tokens.
      "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging "
      // Malformed UTF-8.
      "\xE6" "ab",
      "\xE6 a",
      "a\x80" "b\xBF",
      "\xC0\x80 overlong, \xED\xA0\x80 surrogate, \xF4\x90\x80\x80 too high",
      "\xFF\xFE\xFD",
      "truncated \xE6\x97",
      "\xF0\x9F\x8E",
  };
  // Random mixes (fixed seed) of words, whitespace runs, markup, special tokens, multi-byte
  // characters and, in a quarter of them, arbitrary bytes.
  const std::vector<std::string> parts = {
      "the", "circle", "Create", "self.play", "(", ")", "=", "_", "0", "42", "3.5", " ", "  ", "   ", "\n", "\n\n",
      "\t", "\r\n", "    ", "<", ">", "</", "<b>", "</s>", "<s>", "<bos>", "<eos>", "<start_of_turn>",
      "<end_of_turn>", "<unused7>", "<|im_start|>", "<|im_end|>", "<|endoftext|>", "é", "ß", "日本", "🎉", "▁",
      "\u00a0", "\u200b", "'s", "don't", "#", "\"", "\\", "{", "}", "[", "]", ".", ",", "!"};
  uint64_t state = 0x9E3779B97F4A7C15ull;
  const auto rnd = [&](uint64_t n) {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    return (state >> 33) % n;
  };
  for (int k = 0; k < 200; ++k) {
    std::string s;
    const uint64_t len = 1 + rnd(24);
    for (uint64_t i = 0; i < len; ++i) {
      if (k % 4 == 3 && rnd(5) == 0)
        s += static_cast<char>(rnd(256));
      else
        s += parts[rnd(parts.size())];
    }
    v.push_back(s);
  }
  // Runs of spaces, newlines and tabs of many lengths, between words.
  for (int n : {2, 3, 4, 5, 8, 15, 16, 17, 30, 31, 32, 33, 63, 64, 65, 100}) {
    v.push_back("x" + std::string(n, ' ') + "y");
    v.push_back("x" + std::string(n, '\n') + "y");
    v.push_back("x" + std::string(n, '\t') + "y");
    v.push_back(std::string(n, ' ') + "\n" + std::string(n, ' ') + "z");
  }
  return v;
}

// The peer's ids for `texts` (flags: "" = special, "--plain").
std::vector<std::vector<int32_t>> llamacpp_ids(const stdfs::path& model, const std::vector<std::string>& texts,
                                               const std::string& flags) {
  nlohmann::json in = nlohmann::json::array();
  for (const auto& s : texts) in.push_back({{"hex", to_hex(s)}});
  auto j = run_peer_json("llamacpp_peer.py", "tokenize " + quote(model.string()) + " " + flags, in);
  REQUIRE(j.size() == texts.size());
  return j.get<std::vector<std::vector<int32_t>>>();
}

// Strictly well-formed UTF-8 (llama.cpp's byte-level BPE path aborts on anything else).
bool valid_utf8(const std::string& s) {
  size_t i = 0;
  const auto b = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  while (i < s.size()) {
    const unsigned char c = b(i);
    size_t n = c < 0x80 ? 1 : c >= 0xC2 && c < 0xE0 ? 2 : c >= 0xE0 && c < 0xF0 ? 3 : c >= 0xF0 && c < 0xF5 ? 4 : 0;
    if (n == 0 || i + n > s.size()) return false;
    for (size_t k = 1; k < n; ++k)
      if ((b(i + k) & 0xC0) != 0x80) return false;
    if ((c == 0xE0 && b(i + 1) < 0xA0) || (c == 0xED && b(i + 1) >= 0xA0) || (c == 0xF0 && b(i + 1) < 0x90) ||
        (c == 0xF4 && b(i + 1) >= 0x90))
      return false;
    i += n;
  }
  return true;
}

// What decode(encode(s)) gives with a SentencePiece vocabulary without add_space_prefix: s, except
// for two inherent losses (llama.cpp has them too): a "▁" in the text comes back as a space, and a
// space escaped to "▁" that falls inside a malformed character (a lead byte claims the bytes after
// it) comes back as the bytes of "▁".
std::string spm_roundtrip(const SpmTokenizer& tok, const std::string& s, bool parse_special) {
  std::string out;
  for (const auto& f : tok.split_special(s, parse_special)) {
    if (f.special >= 0) {
      out += f.text;
      continue;
    }
    std::string esc;
    for (char c : f.text) esc += c == ' ' ? kSp : std::string(1, c);
    for (size_t i = 0; i < esc.size();) {
      const auto c = static_cast<unsigned char>(esc[i]);
      const size_t n = std::min<size_t>(c < 0xC0 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4, esc.size() - i);
      const std::string ch = esc.substr(i, n);
      out += ch == kSp ? std::string(" ") : ch;
      i += n;
    }
  }
  return out;
}

// SmolLM2's vocabulary has no token for some control bytes: they are dropped by both tokenizers.
std::string without_dropped(const std::string& s) {
  std::string out;
  for (char c : s)
    if (std::string("\x04\x06\x13\x14\x16\x1d").find(c) == std::string::npos) out += c;
  return out;
}

void check_parity(const stdfs::path& model, bool gemma) {
  require_python_modules("llama_cpp");
  const auto t0 = std::chrono::steady_clock::now();
  const GgufFile f = GgufFile::open(model.string());
  const auto tok = load_tokenizer(f);
  const auto* spm = dynamic_cast<const SpmTokenizer*>(tok.get());
  REQUIRE((spm != nullptr) == gemma);
  const double load_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::vector<std::string> texts = manimbench_texts(100);
  REQUIRE(texts.size() == 200);
  std::vector<std::string> extra = edge_texts();
  for (auto& s : spm_texts())
    if (std::find(extra.begin(), extra.end(), s) == extra.end()) extra.push_back(s);
  size_t skipped = 0;
  for (auto& s : extra) {
    if (!gemma && !valid_utf8(s)) {
      ++skipped;
      continue;
    }
    texts.push_back(s);
  }
  if (skipped) WARN(skipped << " malformed UTF-8 texts left out (llama.cpp's byte-level BPE aborts on them)");

  for (const bool parse_special : {true, false}) {
    const auto want = llamacpp_ids(model, texts, parse_special ? "" : "--plain");
    size_t mismatches = 0, roundtrip_failures = 0, tokens = 0;
    const auto t1 = std::chrono::steady_clock::now();
    for (size_t k = 0; k < texts.size(); ++k) {
      const auto got = tok->encode(texts[k], false, parse_special);
      tokens += got.size();
      if (got != want[k]) {
        ++mismatches;
        UNSCOPED_INFO("parse_special " << parse_special << ", text " << k << " " << show(texts[k]) << "\n  ours "
                                       << show(got) << "\n  llama.cpp " << show(want[k]));
      }
      const std::string back = tok->decode(got);
      const std::string expect =
          spm ? spm_roundtrip(*spm, texts[k], parse_special) : without_dropped(texts[k]);
      if (back != expect) {
        ++roundtrip_failures;
        UNSCOPED_INFO("parse_special " << parse_special << ", text " << k << " " << show(texts[k])
                                       << " decodes to " << show(back));
      }
    }
    const double enc_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count();
    WARN(model.filename().string() << " (" << tok->model() << ", loaded in " << load_s << " s) parse_special "
                                   << parse_special << ": " << texts.size() << " texts, " << tokens << " tokens in "
                                   << enc_s * 1e3 << " ms, " << mismatches << " mismatches with llama.cpp, "
                                   << roundtrip_failures << " round-trip failures");
    CHECK(mismatches == 0);
    CHECK(roundtrip_failures == 0);
  }

  // add_special (BOS/EOS as the metadata says) on a few texts.
  const std::vector<std::string> some(texts.begin() + 200, texts.begin() + 230);
  const auto want = llamacpp_ids(model, some, "--add-special");
  size_t mismatches = 0;
  for (size_t k = 0; k < some.size(); ++k) {
    const auto got = tok->encode(some[k], true, true);
    if (got != want[k]) {
      ++mismatches;
      UNSCOPED_INFO("add_special, text " << show(some[k]) << "\n  ours " << show(got) << "\n  llama.cpp "
                                         << show(want[k]));
    }
  }
  CHECK(mismatches == 0);
}

}  // namespace

TEST_CASE("Gemma 3 tokenizer: metadata", "[integration][spm]") {
  const GgufFile f = GgufFile::open(gemma3_path().string());
  const auto tok = load_tokenizer(f);
  CHECK(tok->model() == "llama");
  CHECK(tok->vocab_size() == 262144);
  CHECK(tok->bos() == 2);
  CHECK(tok->eos() == 1);
  CHECK(tok->add_bos());
  CHECK_FALSE(tok->add_eos());
  CHECK(tok->token_id("<start_of_turn>") == 105);
  CHECK(tok->token_id("<end_of_turn>") == 106);
  CHECK(tok->token_id("\n") == 107);
  CHECK(tok->is_special(105));
  CHECK(tok->token_type(107) == TokenType::UserDefined);
  CHECK(tok->encode("<start_of_turn>user\n", true, true) == std::vector<int32_t>{2, 105, 2364, 107});
  const auto* spm = dynamic_cast<const SpmTokenizer*>(tok.get());
  REQUIRE(spm);
  CHECK_FALSE(spm->add_space_prefix());
}

TEST_CASE("Gemma 3 tokenizer: ids equal llama.cpp's", "[integration][spm]") {
  check_parity(gemma3_path(), /*gemma=*/true);
}

TEST_CASE("SmolLM2 tokenizer: ids equal llama.cpp's", "[integration][spm]") {
  check_parity(smollm2_path(), /*gemma=*/false);
}
