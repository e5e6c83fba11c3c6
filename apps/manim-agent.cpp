// manim-agent: inference with the renderer in the loop (vanilla, RITL, RITL-DOC) on a local model or
// an OpenAI-compatible server; an OpenAI-compatible server over the local runtime; rendering one
// file in the sandbox; text generation; model description. One file per subcommand in
// apps/manim-agent/.
#include "manim-agent/subcommands.hpp"

int main(int argc, char** argv) {
  using namespace mtk::apps::agent;
  return mtk::apps::run_program(
      "manim-agent", "manim-agent: generate Manim code and correct it with the renderer in the loop", argc, argv,
      [](CLI::App& app) {
        return std::vector<mtk::apps::Subcommand>{add_render(app), add_model_info(app), add_generate(app),
                                                  add_run(app), add_serve(app)};
      });
}
