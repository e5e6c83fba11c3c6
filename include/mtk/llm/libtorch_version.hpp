#pragma once
// The version of the libtorch this build links ("1.13.0"), for run_meta.json (core/run_meta.hpp).
#include <string>

namespace mtk::llm {

std::string libtorch_version();

}  // namespace mtk::llm
