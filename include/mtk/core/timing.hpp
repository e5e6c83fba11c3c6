#pragma once
// Wall-clock and memory figures for logs and benchmarks.
#include <chrono>

namespace mtk {

// Seconds from t0 to now on the steady clock.
inline double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// The process's peak resident set size so far, MiB (getrusage's ru_maxrss).
double peak_rss_mib();

}  // namespace mtk
