// manim-agent: inference with the renderer in the loop. So far: render one file in the sandbox,
// generate text with a local model, describe a model file.
#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "mtk/build_info.hpp"
#include "mtk/core/app.hpp"
#include "mtk/core/error.hpp"
#include "mtk/core/fs.hpp"
#include "mtk/core/log.hpp"
#include "mtk/llm/generate.hpp"
#include "mtk/llm/gguf.hpp"
#include "mtk/llm/model_config.hpp"
#include "mtk/llm/model_info.hpp"
#include "mtk/llm/tokenizer.hpp"
#include "mtk/render/cache.hpp"
#include "mtk/render/render.hpp"

int main(int argc, char** argv) {
  return mtk::run_app("manim-agent", [&] {
    CLI::App app{"manim-agent: generate Manim code and correct it with the renderer in the loop"};
    app.set_version_flag("--version", std::string("manim-agent ") + mtk::build::kVersion);
    app.require_subcommand(1);
    std::string log_level = "info";
    app.add_option("--log-level", log_level, "trace, debug, info, warn, error or off")->capture_default_str();

    std::string file, scene, out;
    mtk::render::RenderOptions ro;
    bool no_cache = false;
    auto* render = app.add_subcommand("render", "Render a Manim file in the sandbox; print the outcome, its failure "
                                                "class and the feedback a model would get");
    render->add_option("file", file, "Python file with a Manim scene")->required()->check(CLI::ExistingFile);
    render->add_option("--scene", scene, "scene class (default: detected from the code)");
    render->add_option("--timeout", ro.timeout_s, "wall-clock limit, seconds")->capture_default_str();
    render->add_option("--copy-to", out, "copy the video (or still) here");
    render->add_flag("--no-cache", no_cache, "do not use the render cache");
    render->add_flag("--unsafe-no-sandbox", ro.allow_unsandboxed,
                     "run without bubblewrap when it is unavailable (untrusted code: avoid)");

    std::string model;
    auto* info = app.add_subcommand("model-info", "Print a GGUF model's architecture, sizes, quantisation types, "
                                                  "tokenizer and chat template");
    info->add_option("model", model, "GGUF path, or smollm2 / gemma3 (fetched by scripts/fetch_models.sh)")->required();

    // generate
    std::string gen_model = "smollm2", prompt, prompt_file, system, chat_format, dtype = "f32", device = "cpu";
    bool chat = false, show_stats = false, json_out = false;
    int threads = 0;
    mtk::llm::GenerateOptions go;
    go.max_new_tokens = 256;
    auto* gen = app.add_subcommand("generate", "Generate text with a local model (GGUF file or Hugging Face "
                                               "directory), streamed to stdout");
    gen->add_option("--model,-m", gen_model, "smollm2, gemma3, a .gguf file or a Hugging Face model directory")
        ->capture_default_str();
    gen->add_option("--prompt,-p", prompt, "the prompt (or the user message with --chat)");
    gen->add_option("--prompt-file,-f", prompt_file, "read the prompt from this file")->check(CLI::ExistingFile);
    gen->add_flag("--chat", chat, "wrap the prompt in the model's chat template as a user turn");
    gen->add_option("--system", system, "system message (with --chat)");
    gen->add_option("--chat-template", chat_format, "override the detected template: chatml, llama3, gemma, mistral");
    gen->add_option("--max-tokens,-n", go.max_new_tokens, "maximum new tokens")->capture_default_str();
    gen->add_option("--temperature,-t", go.temperature, "0 = greedy")->capture_default_str();
    gen->add_option("--top-k", go.top_k, "keep the k most likely tokens (0 = off)")->capture_default_str();
    gen->add_option("--top-p", go.top_p, "nucleus sampling mass (1 = off)")->capture_default_str();
    gen->add_option("--min-p", go.min_p, "drop tokens below min-p x the top probability (0 = off)")->capture_default_str();
    gen->add_option("--repeat-penalty", go.repetition_penalty, "repetition penalty (1 = off)")->capture_default_str();
    gen->add_option("--seed", go.seed, "sampling seed")->capture_default_str();
    gen->add_option("--stop", go.stop, "stop string (repeatable)");
    gen->add_flag("--ignore-eos", go.ignore_eos, "keep generating past end-of-generation tokens");
    gen->add_option("--dtype", dtype, "compute dtype: f32 (CPU), bf16 or f16 (CUDA)")->capture_default_str();
    gen->add_option("--device", device, "cpu or cuda")->capture_default_str();
    gen->add_option("--threads", threads, "CPU threads (0 = all cores)")->capture_default_str();
    gen->add_flag("--stats", show_stats, "print token counts and speed to stderr");
    gen->add_flag("--json", json_out, "print one JSON object (text, tokens, log-probs, finish reason) instead of "
                                      "streaming");

    CLI11_PARSE(app, argc, argv);
    mtk::init_logging(log_level);

    if (*gen) {
      if (!prompt_file.empty()) prompt = mtk::fs::read_file(prompt_file);
      if (prompt.empty()) throw mtk::Error("generate needs a prompt", "pass --prompt TEXT or --prompt-file FILE");
      mtk::llm::LanguageModel::Options lo;
      lo.dtype = dtype;
      lo.device = device;
      lo.threads = threads;
      if (!chat_format.empty()) lo.chat_format = mtk::llm::chat_format_from_string(chat_format);
      const auto t0 = std::chrono::steady_clock::now();
      auto lm = mtk::llm::LanguageModel::load(gen_model, lo);
      const auto t1 = std::chrono::steady_clock::now();
      std::string text = prompt;
      if (chat) {
        std::vector<mtk::llm::ChatMessage> msgs;
        if (!system.empty()) msgs.push_back({"system", system});
        msgs.push_back({"user", prompt});
        text = lm->chat_prompt(msgs);
      }
      mtk::llm::StreamCallback stream;
      if (!json_out)
        stream = [](size_t, const std::string& piece) {
          std::fwrite(piece.data(), 1, piece.size(), stdout);
          std::fflush(stdout);
        };
      const auto gens = lm->generate({text}, go, stream);
      const auto t2 = std::chrono::steady_clock::now();
      const auto& g = gens.at(0);
      if (json_out) {
        nlohmann::json j{{"text", g.text}, {"tokens", g.tokens}, {"logprobs", g.logprobs},
                         {"prompt_tokens", g.prompt_tokens.size()}, {"finish_reason", g.finish_reason}};
        std::printf("%s\n", j.dump().c_str());
      } else {
        std::printf("\n");
      }
      if (show_stats) {
        const double load_s = std::chrono::duration<double>(t1 - t0).count();
        const double gen_s = std::chrono::duration<double>(t2 - t1).count();
        std::fprintf(stderr, "[stats] load %.2f s; prompt %zu tokens; generated %zu tokens in %.2f s (%.1f tok/s); finish: %s\n",
                     load_s, g.prompt_tokens.size(), g.tokens.size(), gen_s, g.tokens.size() / std::max(gen_s, 1e-9),
                     g.finish_reason.c_str());
      }
      return 0;
    }
    if (*info) {
      auto f = mtk::llm::GgufFile::open(mtk::llm::resolve_model(model));
      std::printf("%s", mtk::llm::describe(f).to_string().c_str());
      try {
        auto tok = mtk::llm::load_tokenizer(f);
        std::printf("tokenizer: loaded, %d tokens, bos %d %s, eos %d %s\n", (int)tok->vocab_size(), (int)tok->bos(),
                    tok->bos() >= 0 ? tok->token_text(tok->bos()).c_str() : "-", (int)tok->eos(),
                    tok->eos() >= 0 ? tok->token_text(tok->eos()).c_str() : "-");
        std::optional<mtk::llm::ChatFormat> fmt;
        if (!f.has("tokenizer.chat_template")) fmt = mtk::llm::chat_format_from_vocabulary(*tok);
        const auto spec = mtk::llm::chat_template_spec(f, fmt);
        std::printf("chat format:     %s%s\n", mtk::llm::chat_format_name(spec.format),
                    f.has("tokenizer.chat_template") ? " (from the model's template)" : " (from the vocabulary)");
        const auto cfg = mtk::llm::config_from_gguf(f);
        std::printf("runtime:         %s\n", cfg.summary().c_str());
      } catch (const mtk::Error& e) {
        std::printf("not loadable: %s\n", e.what());
      }
      return 0;
    }
    mtk::render::Renderer r(ro, no_cache ? nullptr : std::make_shared<mtk::render::RenderCache>());
    r.check_environment();
    auto res = r.render(mtk::render::RenderJob{mtk::fs::read_file(file), scene, file});
    std::printf("success: %s\nclass: %s\nscene: %s\nduration: %.2f s%s\n", res.success ? "yes" : "no",
                std::string(mtk::render::to_string(res.failure)).c_str(), res.scene.c_str(), res.duration_s, res.cached ? " (cached)" : "");
    if (res.success) {
      std::printf("output: %s%s\n", res.output.c_str(), res.still ? " (still image)" : "");
      if (!out.empty()) {
        std::filesystem::copy_file(res.output, out, std::filesystem::copy_options::overwrite_existing);
        std::printf("copied to %s\n", out.c_str());
      }
      return 0;
    }
    std::printf("\n--- feedback (last %d lines, the paper's) ---\n%s\n", ro.feedback_lines,
                mtk::render::feedback_tail(res, ro.feedback_lines).c_str());
    std::printf("\n--- feedback (cleaned) ---\n%s\n", mtk::render::feedback_clean(res, mtk::fs::read_file(file)).c_str());
    return 3;
  });
}
