// Parity with Hugging Face transformers (float32) on tiny random-weight checkpoints it saved:
// llama, llama with llama3 RoPE scaling, qwen2 (q/k/v biases), qwen3 (q/k norms, head_dim != hidden
// / heads) and gemma3 (sliding-window layers, two RoPE bases, (1 + w) norms, post norms, GeGLU,
// query_pre_attn_scalar). tests/llm/fixtures/hf/README.md describes the fixtures and
// tests/llm/fixtures/make_hf_fixtures.py wrote them. Every position's logits must agree within 1e-4,
// with and without the KV cache, and for a left-padded batch.
#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <catch2/catch.hpp>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "mtk/core/fs.hpp"
#include "mtk/llm/model.hpp"

using namespace mtk::llm;

namespace {

struct Fixture {
  std::vector<std::vector<int64_t>> inputs;
  std::vector<at::Tensor> logits;  // [len, V] each
};

Fixture read_fixture(const std::filesystem::path& dir) {
  std::ifstream in(dir / "expected.json");
  REQUIRE(in);
  const auto j = nlohmann::json::parse(in);
  Fixture f;
  f.inputs = j.at("inputs").get<std::vector<std::vector<int64_t>>>();
  std::ifstream bin(dir / j.at("logits_file").get<std::string>(), std::ios::binary);
  REQUIRE(bin);
  const auto shapes = j.at("logits_shapes").get<std::vector<std::vector<int64_t>>>();
  const auto offsets = j.at("logits_offsets").get<std::vector<int64_t>>();
  for (size_t i = 0; i < shapes.size(); ++i) {
    at::Tensor t = at::empty({shapes[i][0], shapes[i][1]}, at::kFloat);
    bin.seekg(offsets[i] * 4);
    bin.read(reinterpret_cast<char*>(t.data_ptr<float>()), t.numel() * 4);
    REQUIRE(bin);
    f.logits.push_back(t);
  }
  return f;
}

at::Tensor ids_tensor(const std::vector<int64_t>& v) { return at::tensor(v, at::kLong).view({1, -1}); }

}  // namespace

TEST_CASE("logits match transformers on tiny llama, qwen2, qwen3 and gemma3 checkpoints", "[hf][parity]") {
  const auto root = mtk::fs::project_root() / "tests" / "llm" / "fixtures" / "hf";
  c10::InferenceMode guard;
  for (const char* name : {"llama", "llama3rope", "qwen2", "qwen3", "gemma3"}) {
    INFO("fixture " << name);
    const auto dir = root / name;
    const Fixture fx = read_fixture(dir);
    const auto m = Model::load(dir.string());
    double worst = 0, worst_inc = 0;
    for (size_t s = 0; s < fx.inputs.size(); ++s) {
      const at::Tensor toks = ids_tensor(fx.inputs[s]);
      const at::Tensor got = m->forward(toks, nullptr).squeeze(0);
      REQUIRE(got.sizes() == fx.logits[s].sizes());
      worst = std::max(worst, (got - fx.logits[s]).abs().max().item<double>());
      // The same through the KV cache, three tokens at a time.
      const int64_t n = toks.size(1);
      KvCache cache = m->new_cache({0}, n);
      std::vector<at::Tensor> parts;
      for (int64_t i = 0; i < n; i += 3) parts.push_back(m->forward(toks.narrow(1, i, std::min<int64_t>(3, n - i)), &cache));
      worst_inc = std::max(worst_inc, (at::cat(parts, 1).squeeze(0) - fx.logits[s]).abs().max().item<double>());
    }
    // A left-padded batch of all inputs.
    int64_t L = 0;
    for (const auto& v : fx.inputs) L = std::max<int64_t>(L, static_cast<int64_t>(v.size()));
    const int64_t B = static_cast<int64_t>(fx.inputs.size());
    at::Tensor batch = at::zeros({B, L}, at::kLong);
    std::vector<int64_t> pad;
    for (int64_t b = 0; b < B; ++b) {
      const auto& v = fx.inputs[static_cast<size_t>(b)];
      pad.push_back(L - static_cast<int64_t>(v.size()));
      batch[b].narrow(0, pad.back(), static_cast<int64_t>(v.size())).copy_(at::tensor(v, at::kLong));
    }
    KvCache cache = m->new_cache(pad, L);
    const at::Tensor bl = m->forward(batch, &cache);
    double worst_batch = 0;
    for (int64_t b = 0; b < B; ++b)
      worst_batch = std::max(worst_batch, (bl[b].narrow(0, pad[static_cast<size_t>(b)], L - pad[static_cast<size_t>(b)]) -
                                           fx.logits[static_cast<size_t>(b)])
                                              .abs()
                                              .max()
                                              .item<double>());
    WARN(name << ": max |logit - transformers| = " << worst << " (full), " << worst_inc << " (KV cache), " << worst_batch
              << " (left-padded batch)");
    CHECK(worst < 1e-4);
    CHECK(worst_inc < 1e-4);
    CHECK(worst_batch < 1e-4);
  }
}

TEST_CASE("Hugging Face config errors name the problem", "[hf]") {
  nlohmann::json cfg = {{"model_type", "gpt_neox"}};
  CHECK_THROWS_WITH(config_from_hf(cfg, "x/config.json"), Catch::Contains("not supported") && Catch::Contains("llama"));
  cfg = {{"model_type", "llama"}, {"vocab_size", 10}, {"hidden_size", 64}, {"num_hidden_layers", 2},
         {"num_attention_heads", 5}, {"num_key_value_heads", 2}, {"intermediate_size", 32}};
  CHECK_THROWS_WITH(config_from_hf(cfg, "x/config.json"), Catch::Contains("not a multiple"));
  cfg.erase("intermediate_size");
  CHECK_THROWS_WITH(config_from_hf(cfg, "x/config.json"), Catch::Contains("x/config.json"));
  CHECK(hf_to_gguf_name("gemma3", "model.layers.2.pre_feedforward_layernorm.weight") == "blk.2.ffn_norm.weight");
  CHECK(hf_to_gguf_name("llama", "model.layers.2.post_attention_layernorm.weight") == "blk.2.ffn_norm.weight");
  CHECK(hf_to_gguf_name("gemma3", "model.layers.2.post_attention_layernorm.weight") == "blk.2.post_attention_norm.weight");
  CHECK(hf_to_gguf_name("llama", "model.rotary_emb.inv_freq").empty());
}
