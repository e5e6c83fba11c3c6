#include "mtk/core/jsonl.hpp"

#include <fstream>

#include "mtk/core/error.hpp"

namespace mtk {

void read_jsonl(const std::string& path, const std::string& what,
                const std::function<void(const nlohmann::json&, size_t)>& fn) {
  std::ifstream in(path);
  if (!in) throw Error("cannot open " + what + " " + path, "check the path");
  std::string line;
  size_t lineno = 0;
  while (std::getline(in, line)) {
    ++lineno;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(line);
    } catch (const nlohmann::json::parse_error& e) {
      throw Error(path + ":" + std::to_string(lineno) + ": malformed JSON: " + e.what(), "fix or remove that line");
    }
    if (!j.is_object()) throw Error(path + ":" + std::to_string(lineno) + ": expected a JSON object", "one object per line");
    fn(j, lineno);
  }
}

std::string json_string_field(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return {};
  if (it->is_string()) return it->get<std::string>();
  return it->dump();
}

}  // namespace mtk
