// Parity of the libtorch model with llama.cpp (llama-cpp-python, tests/llm/llamacpp_eval.py) on the
// real GGUF files: last-position logits within a bound, and greedy continuations of 48 tokens for
// 10 prompts that agree token for token except where llama.cpp itself faced a near tie. The token
// ids fed to both engines are ours (tokenizer parity is tested separately).
//
// The logits cannot agree exactly. We dequantise the weights exactly and compute in float32, which
// matches Hugging Face transformers loading the same GGUF file in float32 to 5e-5 (measured on
// both models; transformers is not installed in CI). llama.cpp quantises the activations to 8 bits
// (Q8_0/Q8_1/Q8_K blocks) before each product with a quantised matrix, keeps the KV cache in f16
// and accumulates attention in f16: its logits differ from both by up to about 1 (SmolLM2) to 3
// (Gemma 3) on these prompts. So a greedy continuation may leave llama.cpp's wherever its top two
// logits are closer than that bound; the test requires every divergence to be such a near tie, and
// prints how many continuations are identical for all 48 tokens.
//
// The llama.cpp numerics mode (llamacpp_numerics.hpp) removes that gap on both models: there the
// logits must be bit-identical and all 10 continuations identical (where llama.cpp was built for
// the CPU extensions it was verified on; see numerics_exact_here).
#include <ATen/ATen.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdlib>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "mtk/core/jsonl.hpp"
#include "mtk/llm/generate.hpp"
#include "mtk/llm/llamacpp_numerics.hpp"
#include "mtk/llm/model.hpp"
#include "mtk/llm/tokenizer.hpp"
#include "peer.hpp"

using namespace mtk::llm;
using namespace mtk::test;

namespace {

// Ten prompts: ManimBench descriptions (as chat prompts for the instruct model) and code openings.
// With $MTK_LONG_PROMPTS set (a check run by hand, about 6 minutes per model): ten plain prompts of
// 395 to 788 tokens instead, so that decoding reaches llama.cpp's split-KV attention (a KV view of
// 512 cells or more).
std::vector<std::string> prompt_texts(const LanguageModel& lm, bool chat) {
  std::vector<std::string> descriptions;
  mtk::read_jsonl(manimbench_path().string(), "dataset", [&](const nlohmann::json& j, size_t) {
    if (descriptions.size() < 6) descriptions.push_back(j.at("description").get<std::string>().substr(0, 600));
  });
  if (std::getenv("MTK_LONG_PROMPTS")) {  // the six descriptions joined, plus 200 more characters each
    std::string all;
    for (const auto& d : descriptions) all += d + "\n";
    std::vector<std::string> out;
    for (int i = 0; i < 10; ++i) out.push_back(std::to_string(i) + ": " + all + all.substr(0, 200 * static_cast<size_t>(i)));
    return out;
  }
  std::vector<std::string> out;
  for (const auto& d : descriptions)
    out.push_back(chat ? lm.chat_prompt({{"user", "Write Manim code for this scene:\n" + d}}) : d);
  out.push_back("from manim import *\n\nclass SquareToCircle(Scene):\n    def construct(self):\n");
  out.push_back("from manim import *\n\n\nclass GraphOfSine(Scene):\n    def construct(self):\n        axes = Axes(");
  out.push_back("The derivative of sin(x) is cos(x). Proof:");
  out.push_back("Unicode: λx → x² ∑ ∫ 日本語 🙂 and    spaces\n\n\n");
  return out;
}

// Greedy 48-token continuations against llama.cpp's (`peer`). A divergence must be at a llama.cpp
// near-tie. Returns how many of the 10 continuations are identical for all 48 tokens.
int greedy_against(const LanguageModel& lm, const std::vector<std::vector<int32_t>>& prompts,
                   const nlohmann::json& peer, double near_tie, const std::string& what) {
  GenerateOptions opt;
  opt.max_new_tokens = 48;
  opt.ignore_eos = true;
  const auto ours = generate(lm.model(), lm.tokenizer(), prompts, opt);
  int identical = 0;
  size_t agreed = 0;
  for (size_t i = 0; i < prompts.size(); ++i) {
    const auto theirs = peer[i].at("tokens").get<std::vector<int32_t>>();
    const auto margins = peer[i].at("margins").get<std::vector<double>>();
    REQUIRE(theirs.size() == 48);
    size_t agree = 0;
    while (agree < theirs.size() && agree < ours[i].tokens.size() && theirs[agree] == ours[i].tokens[agree]) ++agree;
    agreed += agree;
    INFO(what << ": prompt " << i << " agrees for " << agree << " of 48 tokens; ours: "
              << lm.tokenizer().decode(ours[i].tokens) << "\nllama.cpp: " << lm.tokenizer().decode(theirs));
    if (agree < 48) {
      INFO("llama.cpp's top-two margin where the continuations part: " << margins[agree]);
      CHECK(margins[agree] < near_tie);
    }
    identical += agree == 48;
  }
  WARN(what << ": " << identical << "/10 greedy continuations identical to llama.cpp for all 48 tokens; " << agreed
            << "/480 tokens before the first divergence");
  return identical;
}

// The llama.cpp numerics mode reproduces ggml-cpu's kernels as llama.cpp builds them: for this CPU
// (-march=native), or without AVX-512 when $MTK_LLAMACPP_ISA=avx2. Verified bit for bit on a
// Sapphire Rapids class CPU (AVX-512 with VNNI and FP16) against llama-cpp-python 0.3.36 built
// there both ways. The test demands exactness where llama.cpp reports the build our side
// reproduces (AVX512 = 1, and AVX512_VNNI = 1 for Gemma 3's K-quant kernels; or AVX2, FMA and F16C
// without AVX512 when MTK_LLAMACPP_ISA=avx2) and our CPU has those extensions; elsewhere it
// reports the figures.
bool numerics_exact_here(bool k_quants) {
#if defined(__x86_64__)
  const auto info = run_peer_json("llamacpp_eval.py", "sysinfo", nlohmann::json::array());
  const std::string s = info.at("system_info").get<std::string>();
  const auto has = [&](const char* f) { return s.find(std::string(f) + " = 1") != std::string::npos; };
  if (mtk::llm::lcn::follows_avx2_build())
    return !has("AVX512") && has("AVX2") && has("FMA") && has("F16C") && __builtin_cpu_supports("avx2") &&
           __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
  if (!__builtin_cpu_supports("avx512f") || !__builtin_cpu_supports("avx512dq")) return false;
  if (k_quants && !__builtin_cpu_supports("avx512vnni")) return false;
  return has("AVX512") && (!k_quants || has("AVX512_VNNI"));
#else
  (void)k_quants;
  return false;
#endif
}

// llama.cpp's answer to a request, computed once: Catch runs a test case again for each section.
const nlohmann::json& peer_once(const std::string& args, const std::vector<std::vector<int32_t>>& prompts) {
  static std::map<std::string, nlohmann::json> cache;
  auto it = cache.find(args);
  if (it == cache.end()) it = cache.emplace(args, run_peer_json("llamacpp_eval.py", args, prompts)).first;
  return it->second;
}

// max_logit_diff bounds |ours - llama.cpp| over the vocabulary; near_tie is the llama.cpp top-two
// margin below which a different greedy choice is accepted.
void check_model(const std::string& path, bool chat, double max_logit_diff, double near_tie) {
  require_python_modules("llama_cpp, numpy");
  const auto lm = LanguageModel::load(path);
  const auto texts = prompt_texts(*lm, chat);
  REQUIRE(texts.size() == 10);
  std::vector<std::vector<int32_t>> prompts;
  for (const auto& t : texts) prompts.push_back(lm->encode_prompt(t));

  SECTION("last-position logits") {
    const auto& peer = peer_once("logits " + quote(path), prompts);
    REQUIRE(peer.size() == prompts.size());
    c10::InferenceMode guard;
    double worst = 0, worst_rel = 0;
    for (size_t i = 0; i < prompts.size(); ++i) {
      const at::Tensor toks = at::tensor(std::vector<int64_t>(prompts[i].begin(), prompts[i].end()), at::kLong).view({1, -1});
      const at::Tensor ours = lm->model().forward(toks, nullptr, true).view({-1});
      const std::vector<float> theirs = peer[i].get<std::vector<float>>();
      REQUIRE(static_cast<int64_t>(theirs.size()) >= ours.size(0));
      const float* o = ours.data_ptr<float>();
      double d = 0, spread = 0, mean = 0;
      for (int64_t k = 0; k < ours.size(0); ++k) {
        d = std::max(d, std::abs(static_cast<double>(o[k]) - theirs[static_cast<size_t>(k)]));
        mean += o[k];
      }
      mean /= static_cast<double>(ours.size(0));
      for (int64_t k = 0; k < ours.size(0); ++k) spread += (o[k] - mean) * (o[k] - mean);
      spread = std::sqrt(spread / static_cast<double>(ours.size(0)));
      const int64_t a_ours = ours.argmax().item<int64_t>();
      const int64_t a_theirs = std::max_element(theirs.begin(), theirs.end()) - theirs.begin();
      INFO("prompt " << i << ": max |diff| " << d << " (logit std " << spread << ")");
      // Same top token, or llama.cpp rates ours within near_tie of its own.
      CHECK((a_ours == a_theirs || theirs[static_cast<size_t>(a_theirs)] - theirs[static_cast<size_t>(a_ours)] < near_tie));
      worst = std::max(worst, d);
      worst_rel = std::max(worst_rel, d / spread);
    }
    WARN(path << ": last-position logits vs llama.cpp: max |diff| = " << worst << " (" << worst_rel
              << " logit standard deviations) over " << prompts.size() << " prompts");
    CHECK(worst < max_logit_diff);
  }

  SECTION("greedy continuations of 48 tokens") {
    const auto& peer = peer_once("greedy " + quote(path) + " 48", prompts);
    greedy_against(*lm, prompts, peer, near_tie, path + " (float32)");
  }
  SECTION("llama.cpp numerics: bit-identical logits and greedy continuations") {
    const bool exact = numerics_exact_here(!chat);
    LanguageModel::Options o;
    o.llamacpp_numerics = true;  // at load: keeps every quantised matrix in its blocks
    const auto ln = LanguageModel::load(path, o);
    {
      const auto& peer = peer_once("logits " + quote(path), prompts);
      c10::InferenceMode guard;
      double worst = 0;
      for (size_t i = 0; i < prompts.size(); ++i) {
        const at::Tensor toks =
            at::tensor(std::vector<int64_t>(prompts[i].begin(), prompts[i].end()), at::kLong).view({1, -1});
        const at::Tensor ours = ln->model().forward(toks, nullptr, true).view({-1});
        const std::vector<float> theirs = peer[i].get<std::vector<float>>();
        const float* o = ours.data_ptr<float>();
        for (int64_t k = 0; k < ours.size(0); ++k)
          worst = std::max(worst, std::abs(static_cast<double>(o[k]) - theirs[static_cast<size_t>(k)]));
      }
      WARN(path << " (llama.cpp numerics): last-position logits vs llama.cpp: max |diff| = " << worst);
      if (exact) CHECK(worst == 0.0);
    }
    // Ten prompts batched with left padding on our side, one at a time in llama.cpp: the padding
    // must not change a bit.
    const auto& peer = peer_once("greedy " + quote(path) + " 48", prompts);
    const int identical = greedy_against(*ln, prompts, peer, near_tie, path + " (llama.cpp numerics)");
    if (exact) CHECK(identical == 10);
  }
}

}  // namespace

TEST_CASE("SmolLM2 Q4_1 matches llama.cpp", "[llamacpp][parity]") { check_model(smollm2_path().string(), true, 1.5, 1.0); }

TEST_CASE("Gemma 3 270M Q4_K_M matches llama.cpp", "[llamacpp][parity]") { check_model(gemma3_path().string(), false, 4.0, 3.0); }
