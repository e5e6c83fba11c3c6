// manim-train: SFT then GRPO of LoRA adapters. The training commands arrive with the training
// issues; until then this program only reports its version.
#include <CLI/CLI.hpp>

#include "mtk/build_info.hpp"
#include "mtk/core/app.hpp"

int main(int argc, char** argv) {
  return mtk::run_app("manim-train", [&] {
    CLI::App app{"manim-train: fine-tune small models to write Manim code (no training command is available yet)"};
    app.set_version_flag("--version", std::string("manim-train ") + mtk::build::kVersion);
    CLI11_PARSE(app, argc, argv);
    std::printf("%s", app.help().c_str());
    return 0;
  });
}
