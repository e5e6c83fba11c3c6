// RoBERTa's vocab.json + merges.txt through our byte-level BPE (encoder_tokenizer.hpp) against
// transformers' RobertaTokenizer, on files built from a real vocabulary (SmolLM2's 49k tokens and
// merges, plus RoBERTa's special tokens). Fixture: fixtures/encoder/make_roberta_tokenizer_fixture.py.
#include <catch2/catch.hpp>

#include <fstream>
#include <nlohmann/json.hpp>

#include "mtk/build_info.hpp"
#include "mtk/core/error.hpp"
#include "mtk/encoders/encoder_tokenizer.hpp"
#include "mtk/llm/gguf.hpp"
#include "../llm/peer.hpp"

TEST_CASE("RoBERTa vocab.json + merges.txt tokenize as transformers' RobertaTokenizer", "[encoder][tokenizer]") {
  std::ifstream in(std::filesystem::path(mtk::build::kSourceDir) / "tests/encoders/fixtures/encoder/roberta_tokenizer.json");
  REQUIRE(in.good());
  const auto fx = nlohmann::json::parse(in);
  const auto gguf = mtk::llm::GgufFile::open(mtk::test::smollm2_path().string());
  const auto tokens = gguf.get_strings("tokenizer.ggml.tokens");
  const auto merges = gguf.get_strings("tokenizer.ggml.merges");
  REQUIRE(tokens.size() == fx.at("n_tokens").get<size_t>());
  nlohmann::json vocab = nlohmann::json::object();
  for (size_t i = 0; i < tokens.size(); ++i) vocab[tokens[i]] = i;
  for (const char* s : {"<s>", "<pad>", "</s>", "<unk>", "<mask>"}) vocab[s] = vocab.size();
  const auto vpath = mtk::test::write_temp("vocab.json", vocab.dump());
  std::string m = "#version: 0.2\n";
  for (const auto& x : merges) m += x + "\n";
  const auto mpath = mtk::test::write_temp("merges.txt", m);
  const auto tok = mtk::encoders::load_roberta_tokenizer(vpath.string(), mpath.string());
  CHECK(tok->bos() == static_cast<int32_t>(tokens.size()));
  CHECK(tok->eos() == static_cast<int32_t>(tokens.size()) + 2);
  const auto& texts = fx.at("texts");
  for (size_t i = 0; i < texts.size(); ++i) {
    INFO("text " << i);
    CHECK(mtk::encoders::roberta_encode(*tok, texts[i].get<std::string>(), 512) == fx.at("ids")[i].get<std::vector<int32_t>>());
  }
  CHECK_THROWS_WITH(mtk::encoders::load_roberta_tokenizer("/nonexistent/vocab.json", mpath.string()),
                    Catch::Contains("fetch_models.sh codebert"));
  std::filesystem::remove(vpath);
  std::filesystem::remove(mpath);
}
