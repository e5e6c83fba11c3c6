// manim-agent serve: an OpenAI-compatible chat-completions endpoint over a local model.
#include <cstdio>
#include <filesystem>
#include <memory>

#include "mtk/agent/backend.hpp"
#include "mtk/agent/server.hpp"
#include "mtk/llm/generate.hpp"
#include "subcommands.hpp"

namespace mtk::apps::agent {

Subcommand add_serve(CLI::App& app) {
  struct State {
    std::string model = "smollm2", adapter;
    mtk::agent::ServeOptions so;
    int threads = 0, batch = 8;
  };
  auto st = std::make_shared<State>();
  auto* serve = app.add_subcommand("serve", "Serve a local model over an OpenAI-compatible chat-completions "
                                            "endpoint (POST /v1/chat/completions, GET /v1/models, GET /health)");
  serve->add_option("--model,-m", st->model, "smollm2, gemma3, a .gguf file or a Hugging Face directory")
      ->capture_default_str();
  serve->add_option("--adapter", st->adapter, "LoRA adapter: a peft directory or a llama.cpp .gguf");
  serve->add_option("--host", st->so.host, "address to listen on")->capture_default_str();
  serve->add_option("--port", st->so.port, "port (0 = any free port, printed at start)")->capture_default_str();
  serve->add_option("--name", st->so.model_name, "model name reported to clients (default: the model's file name)");
  serve->add_option("--max-tokens", st->so.default_max_tokens, "max_tokens when a request has none")->capture_default_str();
  serve->add_option("--threads", st->threads, "CPU threads (0 = all)")->capture_default_str();
  serve->add_option("--batch", st->batch, "concurrent greedy requests generated as one batch (1 = one at a time)")
      ->capture_default_str();
  return {serve, [st] {
            llm::LanguageModel::Options lo;
            lo.threads = st->threads;
            auto loaded = llm::LanguageModel::load(st->model, lo);
            if (!st->adapter.empty()) loaded->load_adapter(st->adapter);
            std::shared_ptr<const llm::LanguageModel> lm = std::move(loaded);
            auto& so = st->so;
            if (so.model_name.empty()) so.model_name = std::filesystem::path(lm->path()).stem().string();
            std::shared_ptr<mtk::agent::ChatBackend> backend = mtk::agent::make_local_backend(lm, st->batch);
            mtk::agent::ChatServer server(backend, so);
            const int port = server.bind();
            std::printf("listening on http://%s:%d/v1 (model %s)\n", so.host.c_str(), port, so.model_name.c_str());
            std::fflush(stdout);
            server.run();
            return 0;
          }};
}

}  // namespace mtk::apps::agent
