#pragma once
// User-facing errors: one clear message that names the fix. Programs catch mtk::Error at the top
// level and print it without a stack trace; internal invariants use assert().
#include <stdexcept>
#include <string>

namespace mtk {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what, std::string fix = {})
      : std::runtime_error(fix.empty() ? what : what + " (fix: " + fix + ")"), fix_(std::move(fix)) {}
  const std::string& fix() const { return fix_; }

 private:
  std::string fix_;
};

}  // namespace mtk
