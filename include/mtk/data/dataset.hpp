#pragma once
// ManimBench-style tasks as JSONL: one object per line with id, description, code, type, split.
#include <string>
#include <vector>

namespace mtk::data {

struct Task {
  std::string id;
  std::string description;  // the prompt (ManimBench's "Reviewed Description")
  std::string code;         // reference solution (may be empty for prompt-only tasks)
  std::string type;         // Basic / Intermediate / Advanced
  std::string split;        // train / test
};

// Reads a JSONL file of tasks. Errors name the file and line.
std::vector<Task> load_jsonl(const std::string& path);

// Resolves a dataset name or path: "samples" -> data/samples/samples.jsonl, "manimbench" ->
// data/manimbench/manimbench.jsonl (made by scripts/manimbench.py at set-up), else a JSONL path.
std::string resolve_dataset(const std::string& name_or_path);

// Loads and keeps the tasks of one split ("" or "all" = every task).
std::vector<Task> load_dataset(const std::string& name_or_path, const std::string& split = "");

}  // namespace mtk::data
