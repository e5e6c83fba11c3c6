#pragma once
// manim-bench's subcommands, one file each.
#include "../subcommand.hpp"

namespace mtk::apps::bench {

Subcommand add_score(CLI::App& app);       // score.cpp
Subcommand add_code_score(CLI::App& app);  // code_score.cpp
Subcommand add_cache(CLI::App& app);       // cache.cpp

}  // namespace mtk::apps::bench
