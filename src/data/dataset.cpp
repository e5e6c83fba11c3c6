#include "mtk/data/dataset.hpp"

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "mtk/core/error.hpp"
#include "mtk/core/fs.hpp"

namespace mtk::data {

namespace stdfs = std::filesystem;
using json = nlohmann::json;

static std::string str_field(const json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return {};
  if (it->is_string()) return it->get<std::string>();
  return it->dump();  // numeric ids
}

std::vector<Task> load_jsonl(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw Error("cannot open dataset " + path, "check the path, or run scripts/setup.sh to build the ManimBench JSONL");
  std::vector<Task> tasks;
  std::string line;
  size_t lineno = 0;
  while (std::getline(in, line)) {
    ++lineno;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    json j;
    try {
      j = json::parse(line);
    } catch (const json::parse_error& e) {
      throw Error(path + ":" + std::to_string(lineno) + ": malformed JSON: " + e.what(), "fix or remove that line");
    }
    if (!j.is_object()) throw Error(path + ":" + std::to_string(lineno) + ": expected a JSON object", "one task object per line");
    Task t;
    t.id = str_field(j, "id");
    t.description = str_field(j, "description");
    t.code = str_field(j, "code");
    t.type = str_field(j, "type");
    t.split = str_field(j, "split");
    if (t.id.empty()) throw Error(path + ":" + std::to_string(lineno) + ": task without an \"id\"", "give every task a unique id");
    tasks.push_back(std::move(t));
  }
  return tasks;
}

std::string resolve_dataset(const std::string& name) {
  if (name == "samples") return (fs::project_root() / "data" / "samples" / "samples.jsonl").string();
  if (name == "manimbench") {
    auto p = fs::project_root() / "data" / "manimbench" / "manimbench.jsonl";
    if (!stdfs::exists(p))
      throw Error("ManimBench is not prepared at " + p.string(),
                  "run scripts/setup.sh (it converts ../shared/manimbench/*.parquet) or scripts/manimbench.py");
    return p.string();
  }
  return name;
}

std::vector<Task> load_dataset(const std::string& name, const std::string& split) {
  auto all = load_jsonl(resolve_dataset(name));
  if (split.empty() || split == "all") return all;
  std::vector<Task> out;
  for (auto& t : all)
    if (t.split == split) out.push_back(std::move(t));
  if (out.empty()) throw Error("dataset " + name + " has no tasks in split '" + split + "'", "use --split train, test or all");
  return out;
}

}  // namespace mtk::data
