#pragma once
// JSON configs with comments, overridable with dotted keys ("render.timeout_s=60").
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace mtk::config {

using json = nlohmann::json;

// Parses a JSON file; // and /* */ comments allowed. Errors name the file and the position.
json load_file(const std::string& path);
json parse(const std::string& text, const std::string& origin = "<string>");
// Applies "a.b.c=value" overrides. The value is parsed as JSON when it parses (numbers, true,
// false, null, arrays, objects, quoted strings), else taken as a plain string.
void apply_override(json& cfg, const std::string& assignment);
void apply_overrides(json& cfg, const std::vector<std::string>& assignments);

}  // namespace mtk::config
