#include "mtk/data/dataset.hpp"

#include <filesystem>
#include <nlohmann/json.hpp>

#include "mtk/core/error.hpp"
#include "mtk/core/fs.hpp"
#include "mtk/core/jsonl.hpp"

namespace mtk::data {

namespace stdfs = std::filesystem;
using json = nlohmann::json;

std::vector<Task> load_jsonl(const std::string& path) {
  std::vector<Task> tasks;
  read_jsonl(path, "dataset", [&](const json& j, size_t lineno) {
    Task t;
    t.id = json_string_field(j, "id");
    t.description = json_string_field(j, "description");
    t.code = json_string_field(j, "code");
    t.type = json_string_field(j, "type");
    t.split = json_string_field(j, "split");
    if (t.id.empty()) throw Error(path + ":" + std::to_string(lineno) + ": task without an \"id\"", "give every task a unique id");
    tasks.push_back(std::move(t));
  });
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
