#pragma once
// Reading JSONL files: one JSON object per non-blank line.
#include <functional>
#include <nlohmann/json.hpp>
#include <string>

namespace mtk {

// Calls fn(object, line number) for every non-blank line. A missing file, malformed JSON or a
// line that is not an object throws mtk::Error naming the file and line; `what` names the kind of
// file in the message ("dataset", "predictions file").
void read_jsonl(const std::string& path, const std::string& what,
                const std::function<void(const nlohmann::json&, size_t lineno)>& fn);

// A field as a string: strings as they are, numbers (ids) as their JSON text, absent/null as "".
std::string json_string_field(const nlohmann::json& j, const char* key);

}  // namespace mtk
