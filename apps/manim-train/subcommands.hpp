#pragma once
// manim-train's subcommands, one file each, and what they share: a JSON config with --set overrides.
#include <string>
#include <vector>

#include "../subcommand.hpp"

namespace mtk::apps::train {

// --config FILE, --set key=value (repeatable), --resume.
struct ConfigArgs {
  std::string config_path;
  std::vector<std::string> sets;
  bool resume = false;
};
void add_config_args(CLI::App* cmd, ConfigArgs& a, const std::string& example_config, const std::string& example_set);

Subcommand add_sft(CLI::App& app);   // sft.cpp
Subcommand add_grpo(CLI::App& app);  // grpo.cpp

}  // namespace mtk::apps::train
