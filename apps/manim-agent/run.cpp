// manim-agent run: an inference strategy on one task or a dataset split, then (with references)
// the run's predictions scored by manim-bench's scorer.
#include <cstdio>
#include <filesystem>
#include <memory>

#include "mtk/agent/run.hpp"
#include "mtk/bench/score.hpp"
#include "mtk/core/fs.hpp"
#include "subcommands.hpp"

namespace mtk::apps::agent {

namespace {

struct RunArgs {
  mtk::agent::RunOptions rn;
  std::string strategy = "vanilla";
  bool no_resume = false, no_score = false, no_cache = false, no_suggest = false;
};

// The run's predictions against the references of the tasks it ran (results in <out>/score).
void score_run(const mtk::agent::RunOptions& rn, const std::string& out_dir) {
  const std::filesystem::path out(out_dir);
  mtk::bench::ScoreOptions sc;
  sc.dataset = (out / "tasks.jsonl").string();
  sc.split = "all";
  sc.predictions = (out / "predictions.jsonl").string();
  sc.out_dir = (out / "score").string();
  sc.timeout_s = rn.render_timeout_s;
  sc.disk_quota_mib = rn.render_disk_quota_mib;
  sc.use_cache = rn.use_cache;
  sc.allow_unsandboxed = rn.allow_unsandboxed;
  mtk::bench::run_score(sc);
  std::printf("\n%s", fs::read_file(std::filesystem::path(sc.out_dir) / "summary.md").c_str());
}

int run(RunArgs& a) {
  auto& rn = a.rn;
  rn.agent.strategy = mtk::agent::strategy_from_string(a.strategy);
  rn.resume = !a.no_resume;
  rn.use_cache = !a.no_cache;
  rn.retriever.suggestions = !a.no_suggest;
  if (rn.out_dir.empty()) rn.out_dir = "runs/agent-" + a.strategy;
  const auto sum = mtk::agent::run_agent(rn);
  std::printf("%s", fs::read_file(std::filesystem::path(sum.out_dir) / "summary.md").c_str());
  if (!rn.dataset.empty() && !a.no_score) score_run(rn, sum.out_dir);
  return 0;
}

}  // namespace

Subcommand add_run(CLI::App& app) {
  auto a = std::make_shared<RunArgs>();
  auto& rn = a->rn;
  auto* run_cmd = app.add_subcommand("run", "Run an inference strategy (vanilla, ritl, ritl-doc) on one task or a "
                                            "dataset split: transcripts, final videos, render success and, with "
                                            "references, visual similarity");
  run_cmd->add_option("--model,-m", rn.model, "local model (smollm2, gemma3, .gguf, HF dir), or the model name "
                                              "sent to --base-url")->capture_default_str();
  run_cmd->add_option("--adapter", rn.adapter, "LoRA adapter on the local model: a peft directory or a llama.cpp "
                                               ".gguf (manim-train writes both: runs/<name>/adapter, adapter.gguf)");
  run_cmd->add_option("--base-url", rn.base_url, "OpenAI-compatible server (e.g. http://127.0.0.1:8080/v1); "
                                                 "default: run --model in-process");
  run_cmd->add_option("--api-key-env", rn.api_key_env, "environment variable holding the API key")->capture_default_str();
  run_cmd->add_option("--request-timeout", rn.request_timeout_s, "HTTP request timeout, seconds")->capture_default_str();
  run_cmd->add_option("--retries", rn.max_retries, "HTTP retries on 429/5xx/timeouts")->capture_default_str();
  run_cmd->add_option("--strategy,-s", a->strategy, "vanilla, ritl or ritl-doc")->capture_default_str();
  run_cmd->add_option("--rounds,-k", rn.agent.rounds, "correction rounds after the first render (ritl, ritl-doc)")
      ->capture_default_str();
  run_cmd->add_flag("!--no-doc-rewrite", rn.agent.doc_rewrite, "ritl-doc: skip the doc rewrite before the first render");
  run_cmd->add_flag("--error-docs", rn.retriever.error_docs, "ritl-doc: document the symbols the render error names "
                                                             "first (beyond the paper)");
  run_cmd->add_flag("--no-doc-suggestions", a->no_suggest, "ritl-doc: do not suggest real names for unknown ones (the "
                                                           "paper's retriever only flags them)");
  run_cmd->add_option("--feedback", rn.agent.feedback, "paper (last N lines of the error output) or clean")
      ->capture_default_str();
  run_cmd->add_option("--feedback-lines", rn.agent.feedback_lines, "lines of error output fed back")->capture_default_str();
  run_cmd->add_option("--task", rn.task, "one description to animate");
  run_cmd->add_option("--dataset,-d", rn.dataset, "samples, manimbench or a JSONL file");
  run_cmd->add_option("--split", rn.split, "train, test or all")->capture_default_str();
  run_cmd->add_option("--limit", rn.limit, "first N tasks only (0 = all)")->capture_default_str();
  run_cmd->add_option("--id", rn.ids, "only this task id (repeatable)");
  run_cmd->add_option("--prompts", rn.prompts_dir, "prompt set directory (default configs/prompts/paper)");
  run_cmd->add_option("--doc-index", rn.doc_index, "Manim API doc index JSON (default data/doc_index/manim-VERSION.json)");
  run_cmd->add_option("--max-tokens,-n", rn.agent.sampling.max_tokens, "maximum new tokens per answer")->capture_default_str();
  run_cmd->add_option("--temperature,-t", rn.agent.sampling.temperature, "0 = greedy")->capture_default_str();
  run_cmd->add_option("--top-p", rn.agent.sampling.top_p, "nucleus sampling mass")->capture_default_str();
  run_cmd->add_option("--top-k", rn.agent.sampling.top_k, "top-k (local model)")->capture_default_str();
  run_cmd->add_option("--min-p", rn.agent.sampling.min_p, "min-p")->capture_default_str();
  run_cmd->add_option("--repeat-penalty", rn.agent.sampling.repetition_penalty, "repetition penalty")->capture_default_str();
  run_cmd->add_option("--seed", rn.agent.sampling.seed, "sampling seed")->capture_default_str();
  run_cmd->add_option("--threads", rn.threads, "local model CPU threads (0 = all)")->capture_default_str();
  run_cmd->add_option("--timeout", rn.render_timeout_s, "render wall-clock limit, seconds")->capture_default_str();
  run_cmd->add_option("--disk-quota", rn.render_disk_quota_mib, "disk quota of each render job, MiB")
      ->capture_default_str()
      ->check(CLI::Range(64.0, 1e7));
  run_cmd->add_option("--parallel,-j", rn.parallel, "tasks in flight at once (renders overlap generation; a local model generates their greedy answers as one batch)")
      ->capture_default_str();
  run_cmd->add_option("--out,-o", rn.out_dir, "output folder")->capture_default_str();
  run_cmd->add_flag("--no-resume", a->no_resume, "run every task again");
  run_cmd->add_flag("--no-score", a->no_score, "skip scoring against the dataset's references");
  run_cmd->add_flag("--no-cache", a->no_cache, "do not use the render cache");
  run_cmd->add_flag("--quiet,-q", rn.quiet, "no per-round log lines");
  run_cmd->add_flag("--unsafe-no-sandbox", rn.allow_unsandboxed, "run Manim without bubblewrap (untrusted code: avoid)");
  return {run_cmd, [a] { return run(*a); }};
}

}  // namespace mtk::apps::agent
