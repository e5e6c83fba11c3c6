#pragma once
#include <string>

namespace mtk {
// Sets up spdlog on stderr with a compact pattern; level is trace|debug|info|warn|error|off.
void init_logging(const std::string& level = "info");
}  // namespace mtk
