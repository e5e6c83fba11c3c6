#pragma once
// `manim-agent run`: a strategy over one task or a dataset split, with transcripts, final videos,
// resumable results and a summary. Output folder:
//   config.json          the resolved run configuration (+ Manim version, git-free build version)
//   run_meta.json        git revision, toolkit / libtorch / Manim versions, the local model's (and
//                        adapter's) sha256, all options (core/run_meta.hpp)
//   transcripts/ID.jsonl one line per round (prompt messages, completion, code, render outcome,
//                        feedback, retrieved docs, tokens, latencies)
//   videos/ID.mp4|png    the final video (or still) of a task that rendered
//   results.jsonl        one line per task (TaskRun without rounds, plus the run key)
//   tasks.jsonl          the tasks run (with references), predictions.jsonl {"id", "code"} per task:
//                        the inputs of `manim-bench score`, which `manim-agent run` calls on them
//   summary.md           render success and time per task (generation vs rendering)
// A run resumes: tasks in results.jsonl with the same key (model, strategy, prompts, sampling,
// description) are kept; others are run again.
#include <string>
#include <vector>

#include "mtk/agent/agent.hpp"
#include "mtk/agent/retriever.hpp"

namespace mtk::agent {

struct RunOptions {
  // Backend: a local model (name or path) unless base_url is set.
  std::string model = "smollm2";
  std::string base_url;                // OpenAI-compatible server, e.g. http://127.0.0.1:8080/v1
  std::string api_key_env = "OPENAI_API_KEY";
  double request_timeout_s = 600;
  int max_retries = 4;
  int threads = 0;                     // local model: CPU threads (0 = all)
  std::string adapter;                 // local model: LoRA adapter (peft directory or llama.cpp .gguf)
  // Tasks: a single description, or a dataset split.
  std::string task;
  std::string dataset;                 // samples, manimbench or a JSONL path
  std::string split = "test";
  size_t limit = 0;                    // first N tasks (0 = all)
  std::vector<std::string> ids;        // only these task ids (empty = all)
  // Strategy.
  AgentOptions agent;
  std::string prompts_dir;             // empty: configs/prompts/paper
  std::string doc_index;               // empty: DocIndex::default_path()
  RetrieverOptions retriever;
  // Rendering.
  double render_timeout_s = 300;
  double render_disk_quota_mib = 2048;
  bool use_cache = true;
  bool allow_unsandboxed = false;
  // Output.
  std::string out_dir = "runs/agent";
  bool resume = true;
  unsigned parallel = 1;               // tasks in flight (renders overlap generation)
  bool quiet = false;                  // no per-round log lines
};

struct RunSummary {
  size_t tasks = 0, rendered = 0, resumed = 0;
  double generation_s = 0, render_s = 0, wall_s = 0;
  size_t llm_calls = 0, renders = 0;
  std::vector<TaskRun> runs;           // in task order
  std::string out_dir;
  double rsr() const { return tasks ? double(rendered) / tasks : 0.0; }
};

RunSummary run_agent(const RunOptions& opt);

}  // namespace mtk::agent
