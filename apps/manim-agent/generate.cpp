// manim-agent generate: text from a local model (GGUF file or Hugging Face directory), streamed.
#include <chrono>
#include <cstdio>
#include <memory>

#include <nlohmann/json.hpp>

#include "mtk/core/error.hpp"
#include "mtk/core/fs.hpp"
#include "mtk/llm/chat_template.hpp"
#include "mtk/llm/generate.hpp"
#include "subcommands.hpp"

namespace mtk::apps::agent {

namespace {

struct GenerateArgs {
  std::string model = "smollm2", adapter, prompt, prompt_file, system, chat_format, dtype = "f32", device = "cpu";
  bool chat = false, show_stats = false, json_out = false;
  int threads = 0;
  llm::GenerateOptions go;
};

int generate(GenerateArgs& a) {
  if (!a.prompt_file.empty()) a.prompt = fs::read_file(a.prompt_file);
  if (a.prompt.empty()) throw Error("generate needs a prompt", "pass --prompt TEXT or --prompt-file FILE");
  llm::LanguageModel::Options lo;
  lo.dtype = a.dtype;
  lo.device = a.device;
  lo.threads = a.threads;
  if (!a.chat_format.empty()) lo.chat_format = llm::chat_format_from_string(a.chat_format);
  const auto t0 = std::chrono::steady_clock::now();
  auto lm = llm::LanguageModel::load(a.model, lo);
  if (!a.adapter.empty()) lm->load_adapter(a.adapter);
  const auto t1 = std::chrono::steady_clock::now();
  std::string text = a.prompt;
  if (a.chat) {
    std::vector<llm::ChatMessage> msgs;
    if (!a.system.empty()) msgs.push_back({"system", a.system});
    msgs.push_back({"user", a.prompt});
    text = lm->chat_prompt(msgs);
  }
  llm::StreamCallback stream;
  if (!a.json_out)
    stream = [](size_t, const std::string& piece) {
      std::fwrite(piece.data(), 1, piece.size(), stdout);
      std::fflush(stdout);
    };
  const auto gens = lm->generate({text}, a.go, stream);
  const auto t2 = std::chrono::steady_clock::now();
  const auto& g = gens.at(0);
  if (a.json_out) {
    nlohmann::json j{{"text", g.text}, {"tokens", g.tokens}, {"logprobs", g.logprobs},
                     {"prompt_tokens", g.prompt_tokens.size()}, {"finish_reason", g.finish_reason}};
    std::printf("%s\n", j.dump().c_str());
  } else {
    std::printf("\n");
  }
  if (a.show_stats) {
    const double load_s = std::chrono::duration<double>(t1 - t0).count();
    const double gen_s = std::chrono::duration<double>(t2 - t1).count();
    std::fprintf(stderr, "[stats] load %.2f s; prompt %zu tokens; generated %zu tokens in %.2f s (%.1f tok/s); finish: %s\n",
                 load_s, g.prompt_tokens.size(), g.tokens.size(), gen_s, g.tokens.size() / std::max(gen_s, 1e-9),
                 g.finish_reason.c_str());
  }
  return 0;
}

}  // namespace

Subcommand add_generate(CLI::App& app) {
  auto a = std::make_shared<GenerateArgs>();
  a->go.max_new_tokens = 256;
  auto* gen = app.add_subcommand("generate", "Generate text with a local model (GGUF file or Hugging Face "
                                             "directory), streamed to stdout");
  gen->add_option("--model,-m", a->model, "smollm2, gemma3, a .gguf file or a Hugging Face model directory")
      ->capture_default_str();
  gen->add_option("--adapter", a->adapter, "LoRA adapter: a peft directory or a llama.cpp .gguf");
  gen->add_option("--prompt,-p", a->prompt, "the prompt (or the user message with --chat)");
  gen->add_option("--prompt-file,-f", a->prompt_file, "read the prompt from this file")->check(CLI::ExistingFile);
  gen->add_flag("--chat", a->chat, "wrap the prompt in the model's chat template as a user turn");
  gen->add_option("--system", a->system, "system message (with --chat)");
  gen->add_option("--chat-template", a->chat_format, "override the detected template: chatml, llama3, gemma, mistral");
  gen->add_option("--max-tokens,-n", a->go.max_new_tokens, "maximum new tokens")->capture_default_str();
  gen->add_option("--temperature,-t", a->go.temperature, "0 = greedy")->capture_default_str();
  gen->add_option("--top-k", a->go.top_k, "keep the k most likely tokens (0 = off)")->capture_default_str();
  gen->add_option("--top-p", a->go.top_p, "nucleus sampling mass (1 = off)")->capture_default_str();
  gen->add_option("--min-p", a->go.min_p, "drop tokens below min-p x the top probability (0 = off)")->capture_default_str();
  gen->add_option("--repeat-penalty", a->go.repetition_penalty, "repetition penalty (1 = off)")->capture_default_str();
  gen->add_option("--seed", a->go.seed, "sampling seed")->capture_default_str();
  gen->add_option("--stop", a->go.stop, "stop string (repeatable)");
  gen->add_flag("--ignore-eos", a->go.ignore_eos, "keep generating past end-of-generation tokens");
  gen->add_option("--dtype", a->dtype, "compute dtype: f32 (CPU), bf16 or f16 (CUDA)")->capture_default_str();
  gen->add_option("--device", a->device, "cpu or cuda")->capture_default_str();
  gen->add_option("--threads", a->threads, "CPU threads (0 = all cores)")->capture_default_str();
  gen->add_flag("--stats", a->show_stats, "print token counts and speed to stderr");
  gen->add_flag("--json", a->json_out, "print one JSON object (text, tokens, log-probs, finish reason) instead of "
                                       "streaming");
  return {gen, [a] { return generate(*a); }};
}

}  // namespace mtk::apps::agent
