#pragma once
// Text generation: batched prefill and KV-cache decoding with per-sequence stopping and sampling.
// This header does not include libtorch; programs that only generate use it and LanguageModel.
//
// Sampling, per sequence and step, on the float32 logits of the last position:
//   1. repetition_penalty p != 1: every token already in the sequence (prompt and generated) has
//      its logit divided by p when positive, multiplied by p when negative (Hugging Face's rule).
//   2. temperature T == 0: greedy (the first maximal logit). Otherwise logits / T, then
//   3. top_k > 0: keep the k largest; top_p < 1: keep the smallest set of most likely tokens whose
//      probability sums to >= top_p; min_p > 0: keep tokens with probability >= min_p * max.
//   4. draw from the renormalised distribution with the sequence's own RNG, seeded from
//      (seed, index of the prompt in the request), so a sequence's sample does not depend on the
//      batch it runs in.
// Log-probabilities are those of the chosen token under log_softmax(logits / T) of the raw logits
// (no penalty or truncation; T = 1 when greedy), as a policy-gradient trainer needs them.
// Stopping: a sequence finishes at an end-of-generation token (the model's EOS and the
// turn-ending control tokens its vocabulary has: <|im_end|>, <|eot_id|>, <end_of_turn>, ...)
// unless ignore_eos, when its text contains a stop string (the text is cut before it), or after
// max_new_tokens. Finished sequences leave the batch.
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "mtk/llm/chat_template.hpp"

namespace mtk::llm {

class Model;
class Tokenizer;

struct GenerateOptions {
  int max_new_tokens = 256;
  double temperature = 0.0;  // 0: greedy
  int top_k = 0;             // 0: off
  double top_p = 1.0;        // 1: off
  double min_p = 0.0;        // 0: off
  double repetition_penalty = 1.0;
  uint64_t seed = 0;
  std::vector<std::string> stop;  // stop strings
  bool ignore_eos = false;
};

struct Generation {
  std::vector<int32_t> prompt_tokens;
  std::vector<int32_t> tokens;  // generated ids (including a final EOS token, if any)
  std::vector<float> logprobs;  // one per generated token
  std::string text;             // generated text, control tokens skipped, cut at a stop string
  std::string finish_reason;    // "eos", "stop" or "length"
};

// Called as text becomes available: (index of the prompt, new text). Text arrives in whole UTF-8
// characters; a stop string, once recognised, is not streamed.
using StreamCallback = std::function<void(size_t index, const std::string& text)>;

// Runs the model over a batch of tokenised prompts (all non-empty).
std::vector<Generation> generate(const Model& model, const Tokenizer& tok,
                                 const std::vector<std::vector<int32_t>>& prompts, const GenerateOptions& opt,
                                 const StreamCallback& on_text = {});

// The end-of-generation token ids of a vocabulary (see above).
std::vector<int32_t> end_of_generation_ids(const Tokenizer& tok);

// Sampling step on one row of logits (exposed for tests). `seen` are the sequence's tokens so far
// (for the repetition penalty). Returns the chosen id and writes its log-probability.
class Sampler {
 public:
  Sampler(const GenerateOptions& opt, uint64_t stream);
  int32_t sample(const float* logits, int64_t vocab, const std::vector<int32_t>& seen, float* logprob);

 private:
  GenerateOptions opt_;
  uint64_t state_[4];
  double uniform();
  std::vector<float> work_;
  std::vector<std::pair<float, int32_t>> cand_;
};

// The chat format a vocabulary's marker tokens imply (<start_of_turn>: gemma, <|start_header_id|>:
// llama3, <|im_start|>: chatml, [INST]: mistral), for models whose file has no chat template (base
// models); nullopt when none is present.
std::optional<ChatFormat> chat_format_from_vocabulary(const Tokenizer& tok);

// A model file with everything needed to prompt it: weights, tokenizer and chat template.
class LanguageModel {
 public:
  struct Options {
    std::string dtype = "f32";
    std::string device = "cpu";
    std::optional<ChatFormat> chat_format;  // override the detected template
    int threads = 0;                        // intra-op threads; 0 = libtorch's default
    std::string quantize;                   // "nf4": LoadOptions::quantize
    bool llamacpp_numerics = false;         // LoadOptions::llamacpp_numerics (parity with llama.cpp)
  };
  // name_or_path: "smollm2", "gemma3" (fetched models), a .gguf file or a Hugging Face directory.
  static std::unique_ptr<LanguageModel> load(const std::string& name_or_path, const Options& opt);
  static std::unique_ptr<LanguageModel> load(const std::string& name_or_path) { return load(name_or_path, Options{}); }
  ~LanguageModel();

  const Model& model() const;
  Model& mutable_model();  // for attaching adapters (training)
  const Tokenizer& tokenizer() const;
  const ChatTemplateSpec& chat_template() const;
  const std::string& path() const;

  // The prompt text for a conversation (with the generation prompt) and its tokens.
  std::string chat_prompt(const std::vector<ChatMessage>& messages) const;
  std::vector<int32_t> encode_prompt(const std::string& text) const;  // add_special, parse_special

  std::vector<Generation> generate(const std::vector<std::string>& prompts, const GenerateOptions& opt,
                                   const StreamCallback& on_text = {}) const;

  // Attaches a LoRA adapter on top of the base: a peft directory (adapter_config.json +
  // adapter_model.safetensors) or a llama.cpp LoRA .gguf, as manim-train or peft/llama.cpp write
  // them (lora.hpp); "" detaches. Throws mtk::Error when the adapter does not fit the model.
  void load_adapter(const std::string& path);

 private:
  LanguageModel();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace mtk::llm
