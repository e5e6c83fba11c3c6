#include "mtk/core/config.hpp"

#include "mtk/core/error.hpp"
#include "mtk/core/fs.hpp"

namespace mtk::config {

json parse(const std::string& text, const std::string& origin) {
  try {
    return json::parse(text, nullptr, /*allow_exceptions=*/true, /*ignore_comments=*/true);
  } catch (const json::parse_error& e) {
    throw Error("malformed JSON in " + origin + ": " + e.what(), "fix the file's syntax");
  }
}

json load_file(const std::string& path) { return parse(fs::read_file(path), path); }

void apply_override(json& cfg, const std::string& assignment) {
  auto eq = assignment.find('=');
  if (eq == std::string::npos || eq == 0)
    throw Error("bad override '" + assignment + "'", "write it as key.sub=value");
  std::string key = assignment.substr(0, eq);
  std::string raw = assignment.substr(eq + 1);
  json value;
  try {
    value = json::parse(raw);
  } catch (const json::parse_error&) {
    value = raw;
  }
  json* node = &cfg;
  size_t start = 0;
  for (;;) {
    size_t dot = key.find('.', start);
    std::string part = key.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (part.empty()) throw Error("bad override key '" + key + "'", "use dotted names like grpo.beta");
    if (!node->is_object()) {
      if (node->is_null()) *node = json::object();
      else throw Error("override '" + key + "' goes through a non-object value", "check the key");
    }
    if (dot == std::string::npos) {
      (*node)[part] = value;
      return;
    }
    node = &(*node)[part];
    start = dot + 1;
  }
}

void apply_overrides(json& cfg, const std::vector<std::string>& assignments) {
  for (const auto& a : assignments) apply_override(cfg, a);
}

}  // namespace mtk::config
