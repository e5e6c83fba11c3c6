#include "mtk/agent/run.hpp"

#include <spdlog/spdlog.h>

#include <functional>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>

#include "mtk/agent/doc_index.hpp"
#include "mtk/build_info.hpp"
#include "mtk/core/error.hpp"
#include "mtk/core/fs.hpp"
#include "mtk/core/hash.hpp"
#include "mtk/core/jsonl.hpp"
#include "mtk/core/progress.hpp"
#include "mtk/core/run_meta.hpp"
#include "mtk/core/thread_pool.hpp"
#include "mtk/data/dataset.hpp"
#include "mtk/llm/generate.hpp"
#include "mtk/llm/libtorch_version.hpp"
#include "mtk/render/cache.hpp"
#include "mtk/render/render.hpp"

namespace mtk::agent {

using json = nlohmann::json;
namespace stdfs = std::filesystem;

namespace {

std::string safe_id(const std::string& id) {
  std::string s;
  for (char c : id) s += (std::isalnum((unsigned char)c) || c == '-' || c == '_' || c == '.') ? c : '_';
  return s.empty() ? "task" : s;
}

json config_json(const RunOptions& o, const std::string& backend, const std::string& manim) {
  const auto& a = o.agent;
  return json{{"backend", backend},
              {"model", o.base_url.empty() ? o.model : o.model},
              {"base_url", o.base_url},
              {"adapter", o.adapter},
              {"strategy", to_string(a.strategy)},
              {"rounds", a.rounds},
              {"doc_rewrite", a.doc_rewrite},
              {"feedback", a.feedback},
              {"feedback_lines", a.feedback_lines},
              {"error_docs", o.retriever.error_docs},
              {"doc_suggestions", o.retriever.suggestions},
              {"max_tokens", a.sampling.max_tokens},
              {"temperature", a.sampling.temperature},
              {"top_p", a.sampling.top_p},
              {"top_k", a.sampling.top_k},
              {"min_p", a.sampling.min_p},
              {"repetition_penalty", a.sampling.repetition_penalty},
              {"seed", a.sampling.seed},
              {"dataset", o.dataset},
              {"split", o.split},
              {"limit", o.limit},
              {"render_timeout_s", o.render_timeout_s},
              {"manim_version", manim},
              {"toolkit_version", build::kVersion}};
}

// The tasks to run: one --task, or a dataset split (filtered by --id, cut by --limit).
std::vector<data::Task> select_tasks(const RunOptions& opt) {
  if (!opt.task.empty()) {
    if (!opt.dataset.empty()) throw Error("give either --task or --dataset, not both");
    data::Task t;
    t.id = "task";
    t.description = opt.task;
    return {t};
  }
  if (opt.dataset.empty()) throw Error("nothing to run", "pass --task \"description\" or --dataset NAME --split S");
  std::vector<data::Task> tasks = data::load_dataset(opt.dataset, opt.split);
  if (!opt.ids.empty()) {
    std::vector<data::Task> keep;
    for (const auto& id : opt.ids) {
      auto it = std::find_if(tasks.begin(), tasks.end(), [&](const data::Task& t) { return t.id == id; });
      if (it == tasks.end()) throw Error("task id '" + id + "' is not in " + opt.dataset + " (split " + opt.split + ")");
      keep.push_back(*it);
    }
    tasks = keep;
  }
  if (opt.limit && tasks.size() > opt.limit) tasks.resize(opt.limit);
  if (tasks.empty()) throw Error("dataset " + opt.dataset + " has no tasks in split '" + opt.split + "'");
  return tasks;
}

// The local model (with its adapter) or the HTTP client; the model files go into `models` for
// run_meta.json.
std::unique_ptr<ChatBackend> make_backend(const RunOptions& opt, std::vector<json>& models) {
  if (!opt.base_url.empty() && !opt.adapter.empty())
    throw Error("--adapter applies to a local model, not to --base-url", "load the adapter in the server instead "
                "(manim-agent serve --adapter, llama-server --lora)");
  if (!opt.base_url.empty()) {
    HttpBackendOptions h;
    h.base_url = opt.base_url;
    h.model = opt.model;
    h.api_key_env = opt.api_key_env;
    h.timeout_s = opt.request_timeout_s;
    h.max_retries = opt.max_retries;
    h.max_concurrency = int(std::max(1u, opt.parallel));
    return make_http_backend(h);
  }
  llm::LanguageModel::Options lo;
  lo.threads = opt.threads;
  auto model = llm::LanguageModel::load(opt.model, lo);
  models.push_back(run_meta::model_json("model", opt.model, model->path()));
  if (!opt.adapter.empty()) {
    model->load_adapter(opt.adapter);
    models.push_back(run_meta::model_json("adapter", opt.adapter, opt.adapter));
  }
  std::shared_ptr<const llm::LanguageModel> lm = std::move(model);
  return make_local_backend(lm, int(std::max(1u, opt.parallel)));
}

void write_run_meta(const RunOptions& opt, const json& cfg, const std::string& manim, const std::vector<json>& models,
                    const stdfs::path& out) {
  run_meta::Inputs meta;
  meta.kind = "manim-agent run";
  meta.config = cfg;  // plus the options that are not part of the resume key
  meta.config["task"] = opt.task;
  meta.config["ids"] = opt.ids;
  meta.config["threads"] = opt.threads;
  meta.config["parallel"] = opt.parallel;
  meta.config["doc_index"] = opt.doc_index;
  meta.config["render_disk_quota_mib"] = opt.render_disk_quota_mib;
  meta.config["use_cache"] = opt.use_cache;
  meta.config["allow_unsandboxed"] = opt.allow_unsandboxed;
  meta.config["out_dir"] = opt.out_dir;
  meta.config["resume"] = opt.resume;
  meta.libtorch_version = llm::libtorch_version();
  meta.manim_version = [&] { return manim; };
  meta.models = models;
  meta.resumed = opt.resume && stdfs::exists(out / "results.jsonl");
  run_meta::write(out, meta);
}

// What decides a task's answers: the resolved config (less --limit, which only selects tasks: a
// run extended from 25 to 100 tasks resumes the first 25), the prompts, the doc index's Manim
// version and the adapter's weights.
std::string config_key(const RunOptions& opt, const json& cfg, const PromptSet& prompts, const Retriever* retriever) {
  Sha256 key;
  json keyed = cfg;
  keyed.erase("limit");
  key.field(keyed.dump());
  for (const auto* st : {&prompts.generate, &prompts.fix, &prompts.doc_rewrite, &prompts.doc_fix})
    key.field(st->system).field(st->user);
  if (retriever) key.field(retriever->index().manim_version());
  if (!opt.adapter.empty()) {  // the adapter's weights, not only its path, decide the answers
    const stdfs::path ad(opt.adapter);
    key.field(sha256_file_hex((stdfs::is_directory(ad) ? ad / "adapter_model.safetensors" : ad).string()));
  }
  return key.hex();
}

TaskRun task_run_from_json(const json& j) {
  TaskRun r;
  r.id = json_string_field(j, "id");
  r.strategy = j.value("strategy", "");
  r.success = j.value("success", false);
  r.failure = j.value("failure", "");
  r.error_line = j.value("error_line", "");
  r.final_code = j.value("code", "");
  r.video = j.value("video", "");
  r.llm_calls = j.value("llm_calls", 0);
  r.renders = j.value("renders", 0);
  r.prompt_tokens = j.value("prompt_tokens", 0);
  r.completion_tokens = j.value("completion_tokens", 0);
  r.generation_s = j.value("generation_s", 0.0);
  r.render_s = j.value("render_s", 0.0);
  r.retrieval_s = j.value("retrieval_s", 0.0);
  r.wall_s = j.value("wall_s", 0.0);
  return r;
}

// Tasks finished by an earlier run of the same configuration, by id (a results file of another
// configuration, or resume off, starts afresh).
std::map<std::string, TaskRun> read_done(const RunOptions& opt, const stdfs::path& results,
                                         const std::vector<data::Task>& tasks,
                                         const std::function<std::string(const data::Task&)>& task_key) {
  std::map<std::string, TaskRun> done;
  if (!opt.resume) {
    if (stdfs::exists(results)) stdfs::remove(results);
    return done;
  }
  if (!stdfs::exists(results)) return done;
  read_jsonl(results.string(), "agent results file", [&](const json& j, size_t) {
    const std::string id = json_string_field(j, "id"), key = j.value("key", "");
    for (const auto& t : tasks)
      if (t.id == id && key == task_key(t)) done[id] = task_run_from_json(j);
  });
  return done;
}

// tasks.jsonl (with their references, for manim-bench score), predictions.jsonl, and the totals.
void write_predictions(const stdfs::path& out, const std::vector<data::Task>& tasks, RunSummary& sum) {
  std::string task_lines, preds;
  for (const auto& t : tasks)
    task_lines += json{{"id", t.id}, {"description", t.description}, {"code", t.code}, {"type", t.type},
                       {"split", t.split}}.dump() + "\n";
  fs::atomic_write(out / "tasks.jsonl", task_lines);
  for (size_t i = 0; i < tasks.size(); ++i) {
    const auto& r = sum.runs[i];
    preds += json{{"id", tasks[i].id}, {"code", r.final_code}}.dump() + "\n";
    sum.rendered += r.success ? 1 : 0;
    sum.generation_s += r.generation_s;
    sum.render_s += r.render_s;
    sum.llm_calls += r.llm_calls;
    sum.renders += r.renders;
  }
  fs::atomic_write(out / "predictions.jsonl", preds);
}

std::string summary_markdown(const RunOptions& opt, const std::string& backend, const std::vector<data::Task>& tasks,
                             const RunSummary& sum) {
  std::ostringstream md;
  char buf[512];
  md << "# manim-agent run: " << to_string(opt.agent.strategy) << "\n\n";
  md << "backend: " << backend << "  \n";
  md << "tasks: " << sum.tasks << (opt.dataset.empty() ? "" : " (" + opt.dataset + ", split " + opt.split + ")") << "\n\n";
  std::snprintf(buf, sizeof buf,
                "| tasks | rendered | RSR | LLM calls / task | renders / task | generation s / task | render s / task |\n"
                "|---:|---:|---:|---:|---:|---:|---:|\n| %zu | %zu | %.1f%% | %.2f | %.2f | %.2f | %.2f |\n\n",
                sum.tasks, sum.rendered, 100.0 * sum.rsr(), double(sum.llm_calls) / std::max<size_t>(1, sum.tasks),
                double(sum.renders) / std::max<size_t>(1, sum.tasks), sum.generation_s / std::max<size_t>(1, sum.tasks),
                sum.render_s / std::max<size_t>(1, sum.tasks));
  md << buf;
  md << "| id | result | rounds | LLM calls | generation s | render s | error |\n|---|---|---:|---:|---:|---:|---|\n";
  for (size_t i = 0; i < tasks.size(); ++i) {
    const auto& r = sum.runs[i];
    std::string err = r.error_line.substr(0, 80);
    for (auto& c : err)
      if (c == '|' || c == '\n') c = ' ';
    std::snprintf(buf, sizeof buf, "| %s | %s | %d | %d | %.2f | %.2f | %s |\n", tasks[i].id.c_str(),
                  r.success ? "ok" : r.failure.c_str(), r.renders, r.llm_calls, r.generation_s, r.render_s,
                  r.success ? "" : err.c_str());
    md << buf;
  }
  return md.str();
}

}  // namespace

RunSummary run_agent(const RunOptions& opt) {
  const auto t_start = std::chrono::steady_clock::now();
  const std::vector<data::Task> tasks = select_tasks(opt);

  // Renderer, prompts, retriever, backend.
  render::RenderOptions ro;
  ro.timeout_s = opt.render_timeout_s;
  ro.disk_bytes = static_cast<uint64_t>(opt.render_disk_quota_mib * (1 << 20));
  ro.allow_unsandboxed = opt.allow_unsandboxed;
  render::Renderer renderer(ro, opt.use_cache ? std::make_shared<render::RenderCache>() : nullptr);
  renderer.check_environment();
  PromptSet prompts = load_prompt_set(opt.prompts_dir);
  std::shared_ptr<const Retriever> retriever;
  if (opt.agent.strategy == Strategy::ritl_doc) {
    auto idx = DocIndex::load(opt.doc_index.empty() ? DocIndex::default_path() : stdfs::path(opt.doc_index));
    retriever = std::make_shared<Retriever>(idx, opt.retriever);
  }
  std::vector<json> models;  // for run_meta.json
  const std::unique_ptr<ChatBackend> backend = make_backend(opt, models);
  Agent agent(*backend, renderer, prompts, opt.agent, retriever);

  // Output folder, its record of the run, and what an earlier run already did.
  const stdfs::path out(opt.out_dir);
  stdfs::create_directories(out / "transcripts");
  stdfs::create_directories(out / "videos");
  const std::string manim = render::manim_version(ro.python.empty() ? fs::manim_python() : ro.python);
  json cfg = config_json(opt, backend->describe(), manim);
  cfg["prompts"] = prompts.dir.string();
  fs::atomic_write(out / "config.json", cfg.dump(2) + "\n");
  write_run_meta(opt, cfg, manim, models, out);
  const std::string key = config_key(opt, cfg, prompts, retriever.get());
  auto task_key = [&](const data::Task& t) { return sha256_hex(key + "\n" + t.id + "\n" + t.description); };
  const stdfs::path results = out / "results.jsonl";
  const std::map<std::string, TaskRun> done = read_done(opt, results, tasks, task_key);

  RunSummary sum;
  sum.out_dir = out.string();
  sum.tasks = tasks.size();
  sum.runs.resize(tasks.size());
  std::vector<size_t> todo;
  for (size_t i = 0; i < tasks.size(); ++i) {
    auto it = done.find(tasks[i].id);
    if (it == done.end()) {
      todo.push_back(i);
      continue;
    }
    sum.runs[i] = it->second;
    ++sum.resumed;
  }
  if (sum.resumed) spdlog::info("run: {} of {} tasks already done in {} (resumed)", sum.resumed, tasks.size(), out.string());
  spdlog::info("run: {} task(s), strategy {}, backend {}", todo.size(), to_string(opt.agent.strategy), backend->describe());

  // Each task: its rounds (logged and kept as a transcript), its final video, its result line.
  Progress progress("tasks", todo.size(), 0.0);
  std::mutex out_mu;
  auto run_one = [&](size_t i) {
    const auto& t = tasks[i];
    const stdfs::path transcript = out / "transcripts" / (safe_id(t.id) + ".jsonl");
    std::string lines;
    TaskRun r = agent.run(t.id, t.description, [&](const Round& rd) {
      lines += json(rd).dump() + "\n";
      if (!opt.quiet)
        spdlog::info("[{}] round {} {}: {}{}", t.id, rd.index, rd.stage,
                     !rd.rendered ? "no render" : rd.success ? "renders" : rd.failure,
                     rd.error_line.empty() || rd.success ? "" : " (" + rd.error_line.substr(0, 100) + ")");
    });
    fs::atomic_write(transcript, lines);
    if (r.success && !r.video.empty() && stdfs::exists(r.video)) {
      stdfs::path dest = out / "videos" / (safe_id(t.id) + stdfs::path(r.video).extension().string());
      stdfs::copy_file(r.video, dest, stdfs::copy_options::overwrite_existing);
      r.video = dest.string();
    }
    json j = r;
    j["key"] = task_key(t);
    j["transcript"] = transcript.string();
    {
      std::lock_guard<std::mutex> lk(out_mu);
      fs::append_line(results, j.dump());
      sum.runs[i] = r;
    }
    progress.tick(1, t.id + (r.success ? " ok" : " " + r.failure));
  };
  if (opt.parallel <= 1 || todo.size() <= 1) {
    for (size_t i : todo) run_one(i);
  } else {
    ThreadPool pool(std::min<unsigned>(opt.parallel, unsigned(todo.size())));
    std::vector<std::future<void>> futs;
    for (size_t i : todo) futs.push_back(pool.submit([&, i] { run_one(i); }));
    for (auto& f : futs) f.get();
  }

  write_predictions(out, tasks, sum);
  sum.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
  fs::atomic_write(out / "summary.md", summary_markdown(opt, backend->describe(), tasks, sum));
  return sum;
}

}  // namespace mtk::agent
