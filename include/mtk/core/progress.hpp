#pragma once
// Progress of long work: items done / total, rate and ETA, logged at most every `interval_s`.
#include <chrono>
#include <mutex>
#include <string>

namespace mtk {

class Progress {
 public:
  Progress(std::string what, size_t total, double interval_s = 5.0);
  // Thread-safe. Logs a line when the interval has passed or the work is complete.
  void tick(size_t n = 1, const std::string& note = {});
  size_t done() const;
  std::string line() const;  // "what: 12/100 (12.0%) 1.5/s ETA 58s"

 private:
  std::string line_locked() const;
  std::string what_;
  size_t total_;
  size_t done_ = 0;
  double interval_s_;
  std::chrono::steady_clock::time_point start_, last_;
  mutable std::mutex mu_;
};

std::string format_duration(double seconds);  // "1h02m", "3m05s", "12.3s"

}  // namespace mtk
