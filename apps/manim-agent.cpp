// manim-agent: inference with the renderer in the loop. For now: render one file in the sandbox.
#include <CLI/CLI.hpp>
#include <cstdio>

#include "mtk/build_info.hpp"
#include "mtk/core/app.hpp"
#include "mtk/core/error.hpp"
#include "mtk/core/fs.hpp"
#include "mtk/core/log.hpp"
#include "mtk/llm/gguf.hpp"
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

    CLI11_PARSE(app, argc, argv);
    mtk::init_logging(log_level);

    if (*info) {
      auto f = mtk::llm::GgufFile::open(mtk::llm::resolve_model(model));
      std::printf("%s", mtk::llm::describe(f).to_string().c_str());
      try {
        auto tok = mtk::llm::load_tokenizer(f);
        std::printf("tokenizer: loaded, %d tokens, bos %d %s, eos %d %s\n", (int)tok->vocab_size(), (int)tok->bos(),
                    tok->bos() >= 0 ? tok->token_text(tok->bos()).c_str() : "-", (int)tok->eos(),
                    tok->eos() >= 0 ? tok->token_text(tok->eos()).c_str() : "-");
      } catch (const mtk::Error& e) {
        std::printf("tokenizer: not loadable yet: %s\n", e.what());
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
