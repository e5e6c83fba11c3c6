#pragma once
// One subcommand of a program (apps/<program>/<name>.cpp): add_<name>(app) declares its options on
// a state it owns and returns what to run once the command line is parsed. The mains only create
// the app, add the subcommands and dispatch.
#include <CLI/CLI.hpp>
#include <functional>
#include <string>
#include <vector>

#include "mtk/build_info.hpp"
#include "mtk/core/app.hpp"
#include "mtk/core/log.hpp"

namespace mtk::apps {

struct Subcommand {
  CLI::App* cmd = nullptr;
  std::function<int()> run;
};

// The program's common flags (--version, --log-level), parsing, logging set-up and dispatch.
inline int run_program(const char* name, const std::string& about, int argc, char** argv,
                       const std::function<std::vector<Subcommand>(CLI::App&)>& add_subcommands) {
  return mtk::run_app(name, [&] {
    CLI::App app{about};
    app.set_version_flag("--version", std::string(name) + " " + mtk::build::kVersion);
    app.require_subcommand(1);
    std::string log_level = "info";
    app.add_option("--log-level", log_level, "trace, debug, info, warn, error or off")->capture_default_str();
    const std::vector<Subcommand> subs = add_subcommands(app);
    CLI11_PARSE(app, argc, argv);
    mtk::init_logging(log_level);
    for (const auto& s : subs)
      if (*s.cmd) return s.run();
    return 0;
  });
}

}  // namespace mtk::apps
