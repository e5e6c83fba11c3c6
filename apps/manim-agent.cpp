// manim-agent: inference with the renderer in the loop (vanilla, RITL, RITL-DOC) on a local model or
// an OpenAI-compatible server; an OpenAI-compatible server over the local runtime; rendering one
// file in the sandbox; text generation; model description.
#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "mtk/agent/backend.hpp"
#include "mtk/agent/run.hpp"
#include "mtk/agent/server.hpp"
#include "mtk/bench/score.hpp"
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
    double render_quota_mib = 2048;
    render->add_option("--disk-quota", render_quota_mib, "disk quota of the render job, MiB (failure class disk beyond it)")
        ->capture_default_str()->check(CLI::Range(64.0, 1e7));
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
    std::string gen_adapter, serve_adapter;
    gen->add_option("--adapter", gen_adapter, "LoRA adapter: a peft directory or a llama.cpp .gguf");
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

    // run
    mtk::agent::RunOptions rn;
    std::string strategy = "vanilla";
    bool no_resume = false, no_score = false, run_no_cache = false, no_suggest = false;
    auto* run = app.add_subcommand("run", "Run an inference strategy (vanilla, ritl, ritl-doc) on one task or a "
                                          "dataset split: transcripts, final videos, render success and, with "
                                          "references, visual similarity");
    run->add_option("--model,-m", rn.model, "local model (smollm2, gemma3, .gguf, HF dir), or the model name "
                                            "sent to --base-url")->capture_default_str();
    run->add_option("--adapter", rn.adapter, "LoRA adapter on the local model: a peft directory or a llama.cpp "
                                             ".gguf (manim-train writes both: runs/<name>/adapter, adapter.gguf)");
    run->add_option("--base-url", rn.base_url, "OpenAI-compatible server (e.g. http://127.0.0.1:8080/v1); "
                                               "default: run --model in-process");
    run->add_option("--api-key-env", rn.api_key_env, "environment variable holding the API key")->capture_default_str();
    run->add_option("--request-timeout", rn.request_timeout_s, "HTTP request timeout, seconds")->capture_default_str();
    run->add_option("--retries", rn.max_retries, "HTTP retries on 429/5xx/timeouts")->capture_default_str();
    run->add_option("--strategy,-s", strategy, "vanilla, ritl or ritl-doc")->capture_default_str();
    run->add_option("--rounds,-k", rn.agent.rounds, "correction rounds after the first render (ritl, ritl-doc)")
        ->capture_default_str();
    run->add_flag("!--no-doc-rewrite", rn.agent.doc_rewrite, "ritl-doc: skip the doc rewrite before the first render");
    run->add_flag("--error-docs", rn.retriever.error_docs, "ritl-doc: document the symbols the render error names "
                                                           "first (beyond the paper)");
    run->add_flag("--no-doc-suggestions", no_suggest, "ritl-doc: do not suggest real names for unknown ones (the "
                                                      "paper's retriever only flags them)");
    run->add_option("--feedback", rn.agent.feedback, "paper (last N lines of the error output) or clean")
        ->capture_default_str();
    run->add_option("--feedback-lines", rn.agent.feedback_lines, "lines of error output fed back")->capture_default_str();
    run->add_option("--task", rn.task, "one description to animate");
    run->add_option("--dataset,-d", rn.dataset, "samples, manimbench or a JSONL file");
    run->add_option("--split", rn.split, "train, test or all")->capture_default_str();
    run->add_option("--limit", rn.limit, "first N tasks only (0 = all)")->capture_default_str();
    run->add_option("--id", rn.ids, "only this task id (repeatable)");
    run->add_option("--prompts", rn.prompts_dir, "prompt set directory (default configs/prompts/paper)");
    run->add_option("--doc-index", rn.doc_index, "Manim API doc index JSON (default data/doc_index/manim-VERSION.json)");
    run->add_option("--max-tokens,-n", rn.agent.sampling.max_tokens, "maximum new tokens per answer")->capture_default_str();
    run->add_option("--temperature,-t", rn.agent.sampling.temperature, "0 = greedy")->capture_default_str();
    run->add_option("--top-p", rn.agent.sampling.top_p, "nucleus sampling mass")->capture_default_str();
    run->add_option("--top-k", rn.agent.sampling.top_k, "top-k (local model)")->capture_default_str();
    run->add_option("--min-p", rn.agent.sampling.min_p, "min-p")->capture_default_str();
    run->add_option("--repeat-penalty", rn.agent.sampling.repetition_penalty, "repetition penalty")->capture_default_str();
    run->add_option("--seed", rn.agent.sampling.seed, "sampling seed")->capture_default_str();
    run->add_option("--threads", rn.threads, "local model CPU threads (0 = all)")->capture_default_str();
    run->add_option("--timeout", rn.render_timeout_s, "render wall-clock limit, seconds")->capture_default_str();
    run->add_option("--disk-quota", rn.render_disk_quota_mib, "disk quota of each render job, MiB")
        ->capture_default_str()->check(CLI::Range(64.0, 1e7));
    run->add_option("--parallel,-j", rn.parallel, "tasks in flight at once (renders overlap generation; a local model generates their greedy answers as one batch)")
        ->capture_default_str();
    run->add_option("--out,-o", rn.out_dir, "output folder")->capture_default_str();
    run->add_flag("--no-resume", no_resume, "run every task again");
    run->add_flag("--no-score", no_score, "skip scoring against the dataset's references");
    run->add_flag("--no-cache", run_no_cache, "do not use the render cache");
    run->add_flag("--quiet,-q", rn.quiet, "no per-round log lines");
    run->add_flag("--unsafe-no-sandbox", rn.allow_unsandboxed, "run Manim without bubblewrap (untrusted code: avoid)");

    // serve
    std::string serve_model = "smollm2";
    mtk::agent::ServeOptions so;
    int serve_threads = 0, serve_batch = 8;
    auto* serve = app.add_subcommand("serve", "Serve a local model over an OpenAI-compatible chat-completions "
                                              "endpoint (POST /v1/chat/completions, GET /v1/models, GET /health)");
    serve->add_option("--model,-m", serve_model, "smollm2, gemma3, a .gguf file or a Hugging Face directory")
        ->capture_default_str();
    serve->add_option("--adapter", serve_adapter, "LoRA adapter: a peft directory or a llama.cpp .gguf");
    serve->add_option("--host", so.host, "address to listen on")->capture_default_str();
    serve->add_option("--port", so.port, "port (0 = any free port, printed at start)")->capture_default_str();
    serve->add_option("--name", so.model_name, "model name reported to clients (default: the model's file name)");
    serve->add_option("--max-tokens", so.default_max_tokens, "max_tokens when a request has none")->capture_default_str();
    serve->add_option("--threads", serve_threads, "CPU threads (0 = all)")->capture_default_str();
    serve->add_option("--batch", serve_batch, "concurrent greedy requests generated as one batch (1 = one at a time)")
        ->capture_default_str();

    CLI11_PARSE(app, argc, argv);
    mtk::init_logging(log_level);

    if (*serve) {
      mtk::llm::LanguageModel::Options lo;
      lo.threads = serve_threads;
      auto loaded = mtk::llm::LanguageModel::load(serve_model, lo);
      if (!serve_adapter.empty()) loaded->load_adapter(serve_adapter);
      std::shared_ptr<const mtk::llm::LanguageModel> lm = std::move(loaded);
      if (so.model_name.empty()) so.model_name = std::filesystem::path(lm->path()).stem().string();
      std::shared_ptr<mtk::agent::ChatBackend> backend = mtk::agent::make_local_backend(lm, serve_batch);
      mtk::agent::ChatServer server(backend, so);
      const int port = server.bind();
      std::printf("listening on http://%s:%d/v1 (model %s)\n", so.host.c_str(), port, so.model_name.c_str());
      std::fflush(stdout);
      server.run();
      return 0;
    }
    if (*run) {
      rn.agent.strategy = mtk::agent::strategy_from_string(strategy);
      rn.resume = !no_resume;
      rn.use_cache = !run_no_cache;
      rn.retriever.suggestions = !no_suggest;
      if (rn.out_dir.empty()) rn.out_dir = "runs/agent-" + strategy;
      const auto sum = mtk::agent::run_agent(rn);
      std::printf("%s", mtk::fs::read_file(std::filesystem::path(sum.out_dir) / "summary.md").c_str());
      if (!rn.dataset.empty() && !no_score) {
        mtk::bench::ScoreOptions sc;
        sc.dataset = (std::filesystem::path(sum.out_dir) / "tasks.jsonl").string();  // the tasks this run ran
        sc.split = "all";
        sc.predictions = (std::filesystem::path(sum.out_dir) / "predictions.jsonl").string();
        sc.out_dir = (std::filesystem::path(sum.out_dir) / "score").string();
        sc.timeout_s = rn.render_timeout_s;
        sc.disk_quota_mib = rn.render_disk_quota_mib;
        sc.use_cache = rn.use_cache;
        sc.allow_unsandboxed = rn.allow_unsandboxed;
        mtk::bench::run_score(sc);
        std::printf("\n%s", mtk::fs::read_file(std::filesystem::path(sc.out_dir) / "summary.md").c_str());
      }
      return 0;
    }
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
      if (!gen_adapter.empty()) lm->load_adapter(gen_adapter);
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
    if (!*render) return 0;
    ro.disk_bytes = static_cast<uint64_t>(render_quota_mib * (1 << 20));
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
