#pragma once
// A microsoft/codebert-base-shaped directory holding the tiny random RoBERTa of
// tests/encoders/fixtures/encoder (weights regenerated from its seed) and a small byte-level vocabulary,
// for tests of the CodeBERT cosine and of what consumes it (manim-bench code-score).
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <string>

#include "../encoders/random_safetensors.hpp"
#include "mtk/build_info.hpp"
#include "mtk/core/fs.hpp"
#include "mtk/encoders/encoder_text.hpp"

namespace mtk::test {

inline const nlohmann::json& fixture() {
  static const nlohmann::json j = [] {
    std::ifstream in(std::filesystem::path(mtk::build::kSourceDir) / "tests/encoders/fixtures/encoder/expected.json");
    REQUIRE(in.good());
    return nlohmann::json::parse(in);
  }();
  return j;
}

// A codebert-base-shaped directory with the tiny random RoBERTa and a small byte-level vocabulary:
// <s> <pad> </s> <unk>, then single letters from id 4 on, "Ġ" (space) and a few merges.
struct TinyCodeBert {
  std::filesystem::path dir;
  nlohmann::json vocab = nlohmann::json::object();
  TinyCodeBert() : dir(mtk::fs::make_temp_dir(std::filesystem::temp_directory_path(), "mtk-codebert-")) {
    const auto& rt = fixture().at("roberta_tiny");
    const auto cfg = mtk::encoders::text_encoder_config_from_json(rt.at("config"));
    mtk::test::write_random_safetensors(dir / "model.safetensors", mtk::encoders::TextEncoder::tensor_shapes(cfg),
                                        rt.at("seed").get<uint64_t>());
    std::ofstream(dir / "config.json") << rt.at("config").dump();
    int id = 0;
    for (const char* s : {"<s>", "<pad>", "</s>", "<unk>"}) vocab[s] = id++;
    for (char c = 'a'; c <= 'z'; ++c) vocab[std::string(1, c)] = id++;
    for (const char* s : {"\xc4\xa0", "(", ")", ":", "=", "de", "def", "\xc4\xa0" "f"}) vocab[s] = id++;
    REQUIRE(id <= 60);
    std::ofstream(dir / "vocab.json") << vocab.dump();
    std::ofstream(dir / "merges.txt") << "#version: 0.2\nd e\nde f\n\xc4\xa0" " f\n";
  }
  ~TinyCodeBert() {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
};


}  // namespace mtk::test
