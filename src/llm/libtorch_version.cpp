#include "mtk/llm/libtorch_version.hpp"

#include <torch/version.h>

namespace mtk::llm {

std::string libtorch_version() { return TORCH_VERSION; }

}  // namespace mtk::llm
