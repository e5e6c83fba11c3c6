#include "mtk/core/app.hpp"

#include <cstdio>
#include <exception>

#include "mtk/core/error.hpp"

namespace mtk {

int run_app(const char* program, const std::function<int()>& body) {
  try {
    return body();
  } catch (const Error& e) {
    std::fprintf(stderr, "%s: error: %s\n", program, e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: internal error: %s (please report it)\n", program, e.what());
    return 2;
  }
}

}  // namespace mtk
