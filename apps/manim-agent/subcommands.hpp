#pragma once
// manim-agent's subcommands, one file each.
#include "../subcommand.hpp"

namespace mtk::apps::agent {

Subcommand add_render(CLI::App& app);      // render.cpp
Subcommand add_model_info(CLI::App& app);  // model_info.cpp
Subcommand add_generate(CLI::App& app);    // generate.cpp
Subcommand add_run(CLI::App& app);         // run.cpp
Subcommand add_serve(CLI::App& app);       // serve.cpp

}  // namespace mtk::apps::agent
