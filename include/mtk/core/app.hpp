#pragma once
// Shared top-level wrapper for the programs: logging set-up and one clear line for user errors.
#include <functional>

namespace mtk {
// Runs body(); mtk::Error -> "error: ..." on stderr and exit code 1; other exceptions -> exit 2.
int run_app(const char* program, const std::function<int()>& body);
}  // namespace mtk
