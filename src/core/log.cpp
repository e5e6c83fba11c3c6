#include "mtk/core/log.hpp"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "mtk/core/error.hpp"

namespace mtk {

void init_logging(const std::string& level) {
  auto logger = spdlog::stderr_color_mt("mtk");
  spdlog::set_default_logger(logger);
  spdlog::set_pattern("[%H:%M:%S %^%l%$] %v");
  auto lvl = spdlog::level::from_str(level);
  if (lvl == spdlog::level::off && level != "off")
    throw Error("unknown log level '" + level + "'", "use trace, debug, info, warn, error or off");
  spdlog::set_level(lvl);
}

}  // namespace mtk
