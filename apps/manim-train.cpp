// manim-train: fine-tune small models to write Manim code. `sft`: supervised fine-tuning of LoRA
// adapters on a frozen (quantised) base (mtk/train/sft.hpp); `grpo`: GRPO of those adapters with a
// reward from rendered videos and code (mtk/train/grpo.hpp). One file per subcommand in
// apps/manim-train/.
#include "manim-train/subcommands.hpp"

int main(int argc, char** argv) {
  using namespace mtk::apps::train;
  return mtk::apps::run_program("manim-train", "manim-train: fine-tune small models to write Manim code", argc, argv,
                                [](CLI::App& app) {
                                  return std::vector<mtk::apps::Subcommand>{add_sft(app), add_grpo(app)};
                                });
}
