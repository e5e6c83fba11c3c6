// Byte-level BPE tokenizer: unit tests on small hand-made vocabularies (no model file needed).
#include <catch2/catch.hpp>
#include <set>
#include <thread>
#include <string>
#include <vector>

#include "gguf_writer.hpp"
#include "mtk/core/error.hpp"
#include "mtk/llm/gguf.hpp"
#include "mtk/llm/tokenizer.hpp"
#include "mtk/llm/tokenizer_bpe.hpp"
#include "mtk/llm/tokenizer_pretokenize.hpp"

using namespace mtk::llm;

namespace {

// A vocabulary with the 256 single-byte tokens (ids 0..255 in byte order), then `extra` tokens
// (byte-level form), then control / user-defined tokens.
BpeVocab tiny_vocab(const std::vector<std::string>& extra, const std::vector<std::string>& merges,
                    const std::vector<std::string>& control = {}, const std::vector<std::string>& user = {}) {
  BpeVocab v;
  for (int b = 0; b < 256; ++b) v.tokens.push_back(gpt2_bytes_to_unicode(std::string(1, static_cast<char>(b))));
  v.types.assign(256, 1);
  for (const auto& t : extra) {
    v.tokens.push_back(t);
    v.types.push_back(1);
  }
  for (const auto& t : control) {
    v.tokens.push_back(t);
    v.types.push_back(3);
  }
  for (const auto& t : user) {
    v.tokens.push_back(t);
    v.types.push_back(4);
  }
  v.merges = merges;
  return v;
}

std::vector<std::string> texts(const BpeTokenizer& tok, const std::vector<int32_t>& ids) {
  std::vector<std::string> out;
  for (int32_t id : ids) out.push_back(tok.token_text(id));
  return out;
}

std::vector<std::string> pieces(const PreTokenizer& p, std::string_view s) {
  std::vector<std::string> out;
  for (auto v : p.split(s)) out.emplace_back(v);
  return out;
}

}  // namespace

TEST_CASE("GPT-2 byte-to-unicode mapping", "[unit][tokenizer]") {
  const auto& t = gpt2_byte_to_codepoint();
  // Printable bytes stand for themselves.
  CHECK(t['A'] == 'A');
  CHECK(t['!'] == '!');
  CHECK(t['~'] == '~');
  CHECK(t[0xA1] == 0xA1);
  CHECK(t[0xFF] == 0xFF);
  // The others, in byte order, from U+0100.
  CHECK(t[0x00] == 0x100);
  CHECK(t['\n'] == 0x10A);  // Ċ
  CHECK(t[' '] == 0x120);   // Ġ
  CHECK(t[0x7F] == 0x121);
  CHECK(t[0xA0] == 0x142);
  CHECK(t[0xAD] == 0x143);
  std::set<uint32_t> seen(t.begin(), t.end());
  CHECK(seen.size() == 256);  // a bijection
  CHECK(*seen.rbegin() == 0x143);

  CHECK(gpt2_bytes_to_unicode(" the") == "\xC4\xA0the");  // "Ġthe"
  CHECK(gpt2_bytes_to_unicode("\n") == "\xC4\x8A");        // "Ċ"
  std::string all;
  for (int b = 0; b < 256; ++b) all += static_cast<char>(b);
  std::string back;
  REQUIRE(gpt2_unicode_to_bytes(gpt2_bytes_to_unicode(all), back));
  CHECK(back == all);
  // Not in the mapping: U+0144 ('ń'), a code point above, invalid UTF-8, a raw control byte.
  CHECK_FALSE(gpt2_unicode_to_bytes("\xC5\x84", back));
  CHECK_FALSE(gpt2_unicode_to_bytes("\xE6\x97\xA5", back));
  CHECK_FALSE(gpt2_unicode_to_bytes("\xC4", back));
  CHECK_FALSE(gpt2_unicode_to_bytes(std::string(1, '\n'), back));
  REQUIRE(gpt2_unicode_to_bytes("", back));
  CHECK(back.empty());
}

TEST_CASE("pre-tokenizer rules split as the tokenizers library does", "[unit][tokenizer]") {
  bool known = false;
  const PreTokenizer gpt2(pre_tokenizer_rule("gpt2", &known).regexes);
  CHECK(known);
  CHECK(pieces(gpt2, "Hello  world") == std::vector<std::string>{"Hello", " ", " world"});
  CHECK(pieces(gpt2, "it's 2024!\n\n  x") ==
        std::vector<std::string>{"it", "'s", " 2024", "!", "\n\n ", " x"});
  CHECK(pieces(gpt2, "a \t\n") == std::vector<std::string>{"a", " \t\n"});
  CHECK(pieces(gpt2, "").empty());

  const PreTokenizer smol(pre_tokenizer_rule("smollm", &known).regexes);
  CHECK(known);
  CHECK(pieces(smol, "abc 123") == std::vector<std::string>{"abc", " ", "1", "2", "3"});
  CHECK(pieces(smol, "3.14") == std::vector<std::string>{"3", ".", "1", "4"});
  CHECK(pieces(smol, "x2y") == std::vector<std::string>{"x", "2", "y"});

  const PreTokenizer llama3(pre_tokenizer_rule("llama-bpe", &known).regexes);
  CHECK(known);
  CHECK(pre_tokenizer_rule("llama3").ignore_merges);
  CHECK(pieces(llama3, "12345 IT'S") == std::vector<std::string>{"123", "45", " IT", "'S"});
  const PreTokenizer qwen2(pre_tokenizer_rule("qwen2", &known).regexes);
  CHECK(known);
  CHECK(pieces(qwen2, "123") == std::vector<std::string>{"1", "2", "3"});

  const PreTokenizerRule unknown = pre_tokenizer_rule("no-such-rule", &known);
  CHECK_FALSE(known);
  CHECK(unknown.name == "gpt2");

  // Unicode letters, marks and numbers use their properties; nothing is lost on odd input.
  CHECK(pieces(gpt2, "héllo wörld") == std::vector<std::string>{"héllo", " wörld"});
  CHECK(pieces(gpt2, "日本語です") == std::vector<std::string>{"日本語です"});
  for (const std::string& s : {std::string("ok\xFF\xFEzz \xC3"), std::string(100000, ' ') + "x",
                              std::string(50000, '\n'), std::string("\0a\0", 3)}) {
    std::string joined;
    for (auto p : smol.split(s)) joined += p;
    CHECK(joined == s);
  }
  CHECK_THROWS_AS(PreTokenizer({"(unclosed"}), mtk::Error);
}

TEST_CASE("BPE merges by rank, leftmost first", "[unit][tokenizer]") {
  // ids: 256 "ab", 257 "bc", 258 "abc", 259 "aa", 260 "aaa"
  BpeVocab v = tiny_vocab({"ab", "bc", "abc", "aa", "aaa"}, {"b c", "a b", "a bc", "a a", "aa a"});
  v.pre = "gpt2";
  const BpeTokenizer tok(v);
  CHECK(tok.vocab_size() == 261);
  CHECK(tok.n_merges() == 5);
  CHECK(tok.skipped_merges() == 0);
  // "abc": "b c" (rank 0) before "a b" (rank 1), then "a bc".
  CHECK(tok.encode("abc", false, false) == std::vector<int32_t>{258});
  // "aaaa": leftmost "a a" first -> aa a a -> aa aa ("aa a" has rank 4, "a a" rank 3 wins first).
  CHECK(texts(tok, tok.encode("aaaa", false, false)) == std::vector<std::string>{"aa", "aa"});
  CHECK(texts(tok, tok.encode("aaa", false, false)) == std::vector<std::string>{"aaa"});
  CHECK(texts(tok, tok.encode("abab", false, false)) == std::vector<std::string>{"ab", "ab"});
  // Pre-tokens are merged separately: no merge crosses " ".
  CHECK(texts(tok, tok.encode("a bc", false, false)) == std::vector<std::string>{"a", " ", "bc"});
  // Every byte has a token: arbitrary bytes round-trip.
  std::string bytes;
  for (int b = 255; b >= 0; --b) bytes += static_cast<char>(b);
  CHECK(tok.decode(tok.encode(bytes, false, false)) == bytes);
  CHECK(tok.encode("", true, true).empty());
  // Unknown merges are skipped and counted.
  BpeVocab bad = tiny_vocab({"ab"}, {"a b", "x yz", "nospace"});
  const BpeTokenizer tok2(bad);
  CHECK(tok2.skipped_merges() == 2);
  CHECK(tok2.n_merges() == 1);
}

TEST_CASE("special tokens are split out before pre-tokenization", "[unit][tokenizer]") {
  BpeVocab v = tiny_vocab({}, {}, {"<|im_start|>", "<|im_end|>", "<|im"}, {"<tool>"});
  v.bos = 256;
  v.eos = 257;
  const BpeTokenizer tok(v);
  const int32_t start = 256, end = 257, im = 258, tool = 259;
  CHECK(tok.is_special(start));
  CHECK(tok.token_type(tool) == TokenType::UserDefined);
  CHECK_FALSE(tok.is_special(tool));
  CHECK_FALSE(tok.is_special('a'));
  CHECK(tok.token_id("<|im_end|>") == end);
  CHECK(tok.token_id("a") == 'a');
  CHECK(tok.token_id("no such token") == -1);

  const auto frags = tok.split_special("<|im_start|>user\nhi<|im_end|><|im<tool>x");
  REQUIRE(frags.size() == 6);
  CHECK(frags[0].special == start);
  CHECK(frags[1].text == "user\nhi");
  CHECK(frags[1].special == -1);
  CHECK(frags[2].special == end);
  CHECK(frags[3].special == im);  // "<|im" alone: the longest token that matches there
  CHECK(frags[4].special == tool);
  CHECK(frags[5].text == "x");
  CHECK(tok.split_special("").empty());
  CHECK(tok.split_special("<|im_sta").size() == 2);  // "<|im" + "_sta"

  const std::string chat = "<|im_start|>user\nhi<|im_end|>";
  const auto ids = tok.encode(chat, false, true);
  CHECK(ids.front() == start);
  CHECK(ids.back() == end);
  CHECK(ids.size() == 2 + 7);  // no merges: one token per byte of "user\nhi"
  const auto plain = tok.encode(chat, false, false);
  for (int32_t id : plain) CHECK(id < 256);
  CHECK(tok.decode(ids) == chat);
  CHECK(tok.decode(plain) == chat);
  CHECK(tok.decode(ids, true) == "user\nhi");
  CHECK(tok.decode({tool, 'x'}, true) == "<tool>x");  // user-defined tokens are kept

  // add_special follows the add_bos / add_eos flags.
  CHECK(tok.encode("a", true, true) == std::vector<int32_t>{'a'});
  v.add_bos = true;
  v.add_eos = true;
  const BpeTokenizer tok2(v);
  CHECK(tok2.encode("a", true, true) == std::vector<int32_t>{start, 'a', end});
  CHECK(tok2.encode("a", false, true) == std::vector<int32_t>{'a'});

  CHECK_THROWS_AS(tok.decode({-1}), mtk::Error);
  CHECK_THROWS_AS(tok.decode({tok.vocab_size()}), mtk::Error);
  CHECK_THROWS_AS(tok.token_text(100000), mtk::Error);
}

TEST_CASE("load_tokenizer: errors name the problem", "[unit][tokenizer]") {
  using mtk::testing::Enc;
  using mtk::testing::GgufBuilder;
  auto strings = [](const std::vector<std::string>& xs) {
    std::vector<std::string> enc;
    for (const auto& x : xs) enc.push_back(Enc::str(x));
    return GgufBuilder::array(mtk::testing::kString, enc);
  };
  {
    GgufBuilder b;
    b.kv_str("general.architecture", "llama");
    const GgufFile f = GgufFile::from_bytes(b.build());
    CHECK_THROWS_WITH(load_tokenizer(f), Catch::Contains("has no tokenizer"));
  }
  {
    GgufBuilder b;
    b.kv_str("tokenizer.ggml.model", "bert");
    b.kv("tokenizer.ggml.tokens", mtk::testing::kArray, strings({"[UNK]", "a"}));
    const GgufFile f = GgufFile::from_bytes(b.build());
    CHECK_THROWS_WITH(load_tokenizer(f), Catch::Contains("unsupported tokenizer.ggml.model \"bert\"") && Catch::Contains("fix:"));
  }
  {
    // A SentencePiece vocabulary whose scores do not match its tokens.
    GgufBuilder b;
    b.kv_str("tokenizer.ggml.model", "llama");
    b.kv("tokenizer.ggml.tokens", mtk::testing::kArray, strings({"<unk>", "a", "b"}));
    b.kv("tokenizer.ggml.scores", mtk::testing::kArray,
         GgufBuilder::array(mtk::testing::kF32, {Enc::f32(0.0f), Enc::f32(-1.0f)}));
    const GgufFile f = GgufFile::from_bytes(b.build());
    CHECK_THROWS_WITH(load_tokenizer(f), Catch::Contains("tokenizer.ggml.scores has 2 entries"));
  }
  {
    GgufBuilder b;
    b.kv_str("tokenizer.ggml.model", "gpt2");
    b.kv("tokenizer.ggml.tokens", mtk::testing::kArray, strings({"a", "b"}));
    const GgufFile f = GgufFile::from_bytes(b.build());
    CHECK_THROWS_WITH(load_tokenizer(f), Catch::Contains("merges"));
  }
  {
    GgufBuilder b;
    b.kv_str("tokenizer.ggml.model", "gpt2");
    b.kv("tokenizer.ggml.tokens", mtk::testing::kArray, strings({"a", "b", "ab"}));
    b.kv("tokenizer.ggml.merges", mtk::testing::kArray, strings({"a b"}));
    b.kv_u32("tokenizer.ggml.eos_token_id", 7);
    const GgufFile f = GgufFile::from_bytes(b.build());
    CHECK_THROWS_WITH(load_tokenizer(f), Catch::Contains("EOS token id 7"));
  }
  {
    GgufBuilder b;
    b.kv_str("tokenizer.ggml.model", "gpt2");
    b.kv_str("tokenizer.ggml.pre", "something-new");
    b.kv("tokenizer.ggml.tokens", mtk::testing::kArray, strings({"a", "b", "ab"}));
    b.kv("tokenizer.ggml.merges", mtk::testing::kArray, strings({"a b"}));
    const GgufFile f = GgufFile::from_bytes(b.build());
    const auto tok = load_tokenizer(f);  // unknown pre: a warning and the GPT-2 default
    CHECK(tok->model() == "gpt2");
    CHECK(tok->encode("ab", false, false) == std::vector<int32_t>{2});
    CHECK(tok->bos() == -1);
  }
}

TEST_CASE("encode is safe from several threads at once", "[unit][tokenizer]") {
  BpeVocab v = tiny_vocab({"ab", "bc", "abc", "aa", "aaa"}, {"b c", "a b", "a bc", "a a", "aa a"});
  v.pre = "smollm";
  const BpeTokenizer tok(v);
  std::vector<std::string> inputs;
  for (int k = 0; k < 2000; ++k) inputs.push_back("abc aaa" + std::to_string(k) + " bcab w" + std::to_string(k % 7));
  std::vector<std::vector<int32_t>> want;
  for (const auto& s : inputs) want.push_back(tok.encode(s, false, false));
  bool ok[4] = {true, true, true, true};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (size_t k = 0; k < inputs.size(); ++k)
        if (tok.encode(inputs[k], false, false) != want[k]) ok[t] = false;
    });
  for (auto& th : threads) th.join();
  for (bool b : ok) CHECK(b);
}
