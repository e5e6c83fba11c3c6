// manim-bench: score predictions against ManimBench references; manage the render cache. One file
// per subcommand in apps/manim-bench/.
#include "manim-bench/subcommands.hpp"

int main(int argc, char** argv) {
  using namespace mtk::apps::bench;
  return mtk::apps::run_program("manim-bench", "manim-bench: render and score Manim code against ManimBench references",
                                argc, argv, [](CLI::App& app) {
                                  return std::vector<mtk::apps::Subcommand>{add_score(app), add_code_score(app),
                                                                            add_cache(app)};
                                });
}
