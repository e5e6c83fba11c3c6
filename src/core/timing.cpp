#include "mtk/core/timing.hpp"

#include <sys/resource.h>

namespace mtk {

double peak_rss_mib() {
  rusage u{};
  ::getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_maxrss) / 1024.0;
}

}  // namespace mtk
