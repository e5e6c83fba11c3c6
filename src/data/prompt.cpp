#include "mtk/data/prompt.hpp"

namespace mtk::data {

static std::string trim_newlines(std::string s) {
  size_t b = s.find_first_not_of("\r\n");
  if (b == std::string::npos) return {};
  size_t e = s.find_last_not_of(" \t\r\n");
  return s.substr(b, e - b + 1);
}

// Content of the first ``` fenced block in s (language tag line skipped), or npos-marked empty.
static bool first_fence(const std::string& s, std::string& out, bool python_only) {
  size_t pos = 0;
  while ((pos = s.find("```", pos)) != std::string::npos) {
    size_t eol = s.find('\n', pos);
    if (eol == std::string::npos) return false;
    std::string tag = s.substr(pos + 3, eol - pos - 3);
    while (!tag.empty() && (tag.back() == ' ' || tag.back() == '\r')) tag.pop_back();
    bool ok = !python_only || tag == "python" || tag == "py" || tag == "python3";
    size_t end = s.find("```", eol + 1);
    if (ok) {
      out = trim_newlines(s.substr(eol + 1, end == std::string::npos ? std::string::npos : end - eol - 1));
      return true;
    }
    if (end == std::string::npos) return false;
    pos = end + 3;
  }
  return false;
}

std::string extract_code(const std::string& c) {
  size_t open = c.find("<CODE>");
  if (open != std::string::npos) {
    size_t start = open + 6;
    size_t close = c.find("</CODE>", start);
    std::string inner = c.substr(start, close == std::string::npos ? std::string::npos : close - start);
    std::string fenced;
    if (first_fence(inner, fenced, false)) return fenced;
    return trim_newlines(inner);
  }
  std::string fenced;
  if (first_fence(c, fenced, true)) return fenced;
  if (first_fence(c, fenced, false)) return fenced;
  return {};
}

std::string format_completion(const std::string& code) { return "<CODE>\n```python\n" + code + "\n```\n</CODE>"; }

std::string format_user_prompt(const std::string& description) {
  return "Generate code for the following text script:\n<TEXT_SCRIPT>\n" + description + "\n</TEXT_SCRIPT>";
}

}  // namespace mtk::data
