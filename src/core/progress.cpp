#include "mtk/core/progress.hpp"

#include <spdlog/spdlog.h>

#include <cstdio>

namespace mtk {

std::string format_duration(double s) {
  char buf[64];
  if (s < 60) std::snprintf(buf, sizeof buf, "%.1fs", s);
  else if (s < 3600) std::snprintf(buf, sizeof buf, "%dm%02ds", int(s) / 60, int(s) % 60);
  else std::snprintf(buf, sizeof buf, "%dh%02dm", int(s) / 3600, (int(s) % 3600) / 60);
  return buf;
}

Progress::Progress(std::string what, size_t total, double interval_s)
    : what_(std::move(what)), total_(total), interval_s_(interval_s),
      start_(std::chrono::steady_clock::now()), last_(start_) {}

size_t Progress::done() const {
  std::lock_guard<std::mutex> lk(mu_);
  return done_;
}

std::string Progress::line() const {
  std::lock_guard<std::mutex> lk(mu_);
  return line_locked();
}

std::string Progress::line_locked() const {
  double el = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  double rate = el > 0 ? done_ / el : 0.0;
  char buf[256];
  double pct = total_ ? 100.0 * done_ / total_ : 100.0;
  std::string eta = (rate > 0 && done_ < total_) ? format_duration((total_ - done_) / rate) : "-";
  std::snprintf(buf, sizeof buf, "%s: %zu/%zu (%.1f%%) %.2f/s elapsed %s ETA %s", what_.c_str(), done_, total_, pct,
                rate, format_duration(el).c_str(), eta.c_str());
  return buf;
}

void Progress::tick(size_t n, const std::string& note) {
  std::lock_guard<std::mutex> lk(mu_);
  done_ += n;
  auto now = std::chrono::steady_clock::now();
  if (done_ >= total_ || std::chrono::duration<double>(now - last_).count() >= interval_s_) {
    last_ = now;
    if (note.empty()) spdlog::info("{}", line_locked());
    else spdlog::info("{} | {}", line_locked(), note);
  }
}

}  // namespace mtk
