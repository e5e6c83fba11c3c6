#include "mtk/bench/score.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <future>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <unordered_map>

#include "mtk/core/error.hpp"
#include "mtk/core/fs.hpp"
#include "mtk/core/hash.hpp"
#include "mtk/core/jsonl.hpp"
#include "mtk/core/progress.hpp"
#include "mtk/core/run_meta.hpp"
#include "mtk/data/dataset.hpp"
#include "mtk/data/prompt.hpp"
#include "mtk/llm/libtorch_version.hpp"
#include "mtk/metrics/foreground.hpp"
#include "mtk/metrics/visual.hpp"
#include "mtk/render/cache.hpp"
#include "mtk/render/pool.hpp"
#include "mtk/render/render.hpp"
#include "mtk/reward/visual.hpp"
#include "mtk/video/decode.hpp"

namespace mtk::bench {

namespace stdfs = std::filesystem;
using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

// Part of each item's resume key with the names of the metrics computed: results of another
// version or metric set are scored again (renders still come from the render cache).
constexpr const char* kMetricVersion = "visual-v2";

json item_to_json(const ItemResult& r) {
  return json{{"id", r.id},
              {"type", r.type},
              {"has_code", r.has_code},
              {"ref_ok", r.ref_ok},
              {"ref_failure", r.ref_failure},
              {"pred_ok", r.pred_ok},
              {"pred_failure", r.pred_failure},
              {"pred_error", r.pred_error},
              {"s_ssim", r.s_ssim},
              {"dtw_distance", r.dtw_distance},
              {"metrics", r.metrics},
              {"unavailable", r.unavailable},
              {"details", r.details},
              {"ref_frames", r.ref_frames},
              {"pred_frames", r.pred_frames},
              {"ref_render_s", r.ref_render_s},
              {"pred_render_s", r.pred_render_s},
              {"metric_s", r.metric_s},
              {"ref_cached", r.ref_cached},
              {"pred_cached", r.pred_cached},
              {"key", r.key}};
}

ItemResult item_from_json(const json& j) {
  ItemResult r;
  r.id = j.value("id", "");
  r.type = j.value("type", "");
  r.has_code = j.value("has_code", false);
  r.ref_ok = j.value("ref_ok", false);
  r.ref_failure = j.value("ref_failure", "");
  r.pred_ok = j.value("pred_ok", false);
  r.pred_failure = j.value("pred_failure", "");
  r.pred_error = j.value("pred_error", "");
  r.s_ssim = j.value("s_ssim", 0.0);
  r.dtw_distance = j.value("dtw_distance", 0.0);
  // Lines of the older format (S_SSIM only) have no "metrics": their keys differ anyway, and they
  // are rejected here so they are scored again.
  r.metrics = j.at("metrics").get<std::map<std::string, double>>();
  r.unavailable = j.value("unavailable", std::vector<std::string>{});
  r.details = j.value("details", std::map<std::string, double>{});
  r.ref_frames = j.value("ref_frames", size_t(0));
  r.pred_frames = j.value("pred_frames", size_t(0));
  r.ref_render_s = j.value("ref_render_s", 0.0);
  r.pred_render_s = j.value("pred_render_s", 0.0);
  r.metric_s = j.value("metric_s", 0.0);
  r.ref_cached = j.value("ref_cached", false);
  r.pred_cached = j.value("pred_cached", false);
  r.key = j.value("key", "");
  return r;
}

// Predictions JSONL: {"id": ..., "code": ...} or {"id": ..., "completion": ...} (code extracted).
std::unordered_map<std::string, std::string> load_predictions(const std::string& path) {
  std::unordered_map<std::string, std::string> out;
  read_jsonl(path, "predictions file", [&](const json& j, size_t lineno) {
    std::string id = json_string_field(j, "id");
    if (id.empty()) throw Error(path + ":" + std::to_string(lineno) + ": prediction without an \"id\"", "one {\"id\", \"code\"} object per line");
    if (j.contains("code") && j["code"].is_string()) out[id] = j["code"].get<std::string>();
    else if (j.contains("completion") && j["completion"].is_string()) out[id] = data::extract_code(j["completion"].get<std::string>());
    else throw Error(path + ":" + std::to_string(lineno) + ": prediction needs \"code\" or \"completion\"", "add one of them");
  });
  return out;
}

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

}  // namespace

const std::vector<std::string>& visual_metrics() {
  static const std::vector<std::string> names = reward::visual_metric_names(true);
  return names;
}

namespace {

// Every available visual metric of one rendered pair into r, through the reward module's scorer
// (GRPO's reward computes the same numbers).
void score_videos(const video::Frames& rf, const video::Frames& pf, const reward::VisualOptions& vo, ItemResult& r) {
  auto v = reward::score_frames(rf, pf, vo);
  r.s_ssim = v.metrics.at("S_SSIM");
  r.dtw_distance = v.dtw_distance;
  r.ref_frames = v.ref_frames;
  r.pred_frames = v.pred_frames;
  for (const auto& [k, x] : v.metrics) r.metrics[k] = x;
  for (const auto& [k, x] : v.details) r.details[k] = x;
}

}  // namespace

namespace {

// The CLIP encoder for S_CLIP and VS, or null with the reason in s.unavailable ("" = the default
// directory when present; "none" = off; an explicit directory that is missing is an error).
std::shared_ptr<const encoders::ClipVisionEncoder> load_clip_for(const ScoreOptions& opts, const std::string& dir,
                                                                 ScoreSummary& s) {
  if (opts.clip_model == "none") {
    s.unavailable = {"S_CLIP: off (--clip none)", "VS: needs S_CLIP"};
    return nullptr;
  }
  if (!stdfs::exists(dir)) {
    if (!opts.clip_model.empty()) throw Error("CLIP model " + dir + " not found", "fetch it with scripts/fetch_models.sh clip");
    s.unavailable = {"S_CLIP: no CLIP ViT-L/14 weights at " + dir + " (scripts/fetch_models.sh clip)", "VS: needs S_CLIP"};
    return nullptr;
  }
  return reward::load_clip(dir, opts.device);
}

void write_run_meta(const ScoreOptions& opts, const ScoreSummary& s, const std::string& metric_tag,
                    const stdfs::path& python, const std::string& clip_dir, bool with_clip, bool resumed) {
  run_meta::Inputs meta;
  meta.kind = "manim-bench score";
  meta.config = {{"dataset", opts.dataset}, {"split", opts.split}, {"predictions", opts.predictions},
                 {"out_dir", opts.out_dir}, {"workers", opts.workers}, {"timeout_s", opts.timeout_s},
                 {"disk_quota_mib", opts.disk_quota_mib}, {"use_cache", opts.use_cache},
                 {"allow_unsandboxed", opts.allow_unsandboxed}, {"exact_dtw", opts.exact_dtw},
                 {"resume", opts.resume}, {"limit", opts.limit}, {"metric_threads", opts.metric_threads},
                 {"clip_model", opts.clip_model}, {"device", opts.device}, {"metrics", s.metrics},
                 {"unavailable", s.unavailable}, {"metric", metric_tag}};
  meta.libtorch_version = llm::libtorch_version();
  meta.manim_version = [&] { return render::manim_version(python); };
  if (with_clip) meta.models.push_back(run_meta::model_json("clip", clip_dir, clip_dir));
  meta.resumed = resumed;
  run_meta::write(stdfs::path(opts.out_dir), meta);
}

// Items already scored by an earlier, interrupted run, by key.
std::unordered_map<std::string, ItemResult> read_partial(const stdfs::path& partial) {
  std::unordered_map<std::string, ItemResult> done;
  std::ifstream in(partial);
  std::string line;
  while (std::getline(in, line)) {
    try {
      auto r = item_from_json(json::parse(line));
      done[r.key] = r;
    } catch (const std::exception&) {
      // a line cut by a crash: ignore it, the item is scored again
    }
  }
  return done;
}

// One task of the run: its prediction, its resume key, and either the earlier result or the
// renders in flight.
struct Pending {
  const data::Task* task;
  std::string pred_code, key;
  bool has_code = false, reused = false;
  ItemResult reused_result;
  std::shared_future<render::RenderResult> ref, pred;
};

std::vector<Pending> plan_items(const std::vector<data::Task>& tasks, bool oracle,
                                const std::unordered_map<std::string, std::string>& preds,
                                const std::unordered_map<std::string, ItemResult>& done, const std::string& metric_tag) {
  std::vector<Pending> items;
  items.reserve(tasks.size());
  for (const auto& t : tasks) {
    Pending p;
    p.task = &t;
    if (oracle) p.pred_code = t.code;
    else if (auto it = preds.find(t.id); it != preds.end()) p.pred_code = it->second;
    p.has_code = !p.pred_code.empty();
    p.key = Sha256().field(t.code).field(p.pred_code).field(metric_tag).field(t.id).hex();
    if (auto it = done.find(p.key); it != done.end()) {
      p.reused = true;
      p.reused_result = it->second;
    }
    items.push_back(std::move(p));
  }
  return items;
}

// Queues every render up front, reference then prediction per item, so items finish in order
// while the pool keeps working on later ones. Identical code shares one render.
void submit_renders(render::RenderPool& pool, std::vector<Pending>& items) {
  for (auto& p : items) {
    if (p.reused) continue;
    p.ref = pool.submit(render::RenderJob{p.task->code, "", p.task->id + "-ref"}).share();
    if (!p.has_code) continue;
    if (p.pred_code == p.task->code) p.pred = p.ref;
    else p.pred = pool.submit(render::RenderJob{p.pred_code, "", p.task->id + "-pred"}).share();
  }
}

// Waits for an item's renders and scores them (every metric 0 for a failed render).
ItemResult score_item(Pending& p, const ScoreSummary& s, const reward::VisualOptions& vo) {
  ItemResult r;
  r.id = p.task->id;
  r.type = p.task->type;
  r.key = p.key;
  r.has_code = p.has_code;
  for (const auto& m : s.metrics) r.metrics[m] = 0.0;
  r.unavailable = s.unavailable;
  const auto& ref = p.ref.get();
  r.ref_ok = ref.success;
  r.ref_failure = std::string(render::to_string(ref.failure));
  r.ref_render_s = ref.duration_s;
  r.ref_cached = ref.cached;
  if (!ref.success) spdlog::warn("{}: the reference failed to render ({}): {}", r.id, r.ref_failure, ref.error_line);
  if (!p.has_code) {
    r.pred_failure = "no_code";
    r.pred_error = "no code could be extracted from the prediction";
    return r;
  }
  const auto& pred = p.pred.get();
  r.pred_ok = pred.success;
  r.pred_failure = std::string(render::to_string(pred.failure));
  r.pred_error = pred.error_line;
  r.pred_render_s = pred.duration_s;
  r.pred_cached = pred.cached;
  if (!(pred.success && ref.success)) return r;
  auto m0 = Clock::now();
  try {
    video::SampleOptions so;
    so.gray = true;  // S_SSIM
    so.rgb = true;   // FVS (and CLIP)
    auto rf = video::load_frames(ref.output, so);
    // Identical code shares one render: decode it once.
    if (pred.output == ref.output) score_videos(rf, rf, vo, r);
    else score_videos(rf, video::load_frames(pred.output, so), vo, r);
  } catch (const Error& e) {
    spdlog::warn("{}: cannot score the videos: {}", r.id, e.what());
    r.pred_error = std::string("scoring failed: ") + e.what();
  }
  r.metric_s = std::chrono::duration<double>(Clock::now() - m0).count();
  return r;
}

void add_to_summary(ScoreSummary& s, const ItemResult& r) {
  auto& g = s.by_type[r.type.empty() ? "-" : r.type];
  for (Group* grp : {&s.overall, &g}) {
    grp->items++;
    grp->rendered += r.pred_ok;
    grp->ref_rendered += r.ref_ok;
    grp->sum_s_ssim += r.s_ssim;
    for (const auto& [m, v] : r.metrics) grp->sums[m] += v;
  }
  if (!r.pred_ok) s.failures[r.pred_failure]++;
}

// results.jsonl, summary.md, summary.csv and summary.json, each written atomically.
void write_outputs(const stdfs::path& out, const ScoreSummary& s, const ScoreOptions& opts, const std::string& metric_tag,
                   const stdfs::path& python) {
  std::string jsonl;
  for (const auto& r : s.items) jsonl += item_to_json(r).dump() + "\n";
  fs::atomic_write(out / "results.jsonl", jsonl);
  fs::atomic_write(out / "summary.md", summary_markdown(s, opts));
  fs::atomic_write(out / "summary.csv", summary_csv(s));
  json meta{{"dataset", opts.dataset}, {"split", opts.split}, {"predictions", opts.predictions},
            {"items", s.items.size()}, {"render_success_rate", s.overall.rsr()},
            {"mean_s_ssim", s.overall.mean_s_ssim()}, {"wall_s", s.wall_s}, {"metric", metric_tag},
            {"metrics", s.metrics}, {"unavailable", s.unavailable},
            {"timeout_s", opts.timeout_s}, {"manim_version", render::manim_version(python)}};
  for (const auto& m : s.metrics) meta["mean"][m] = s.overall.mean(m);
  for (const auto& [type, g] : s.by_type)
    for (const auto& m : s.metrics) meta["mean_by_type"][type][m] = g.mean(m);
  fs::atomic_write(out / "summary.json", meta.dump(2) + "\n");
}

}  // namespace

ScoreSummary run_score(const ScoreOptions& opts) {
  const auto t0 = Clock::now();
  auto tasks = data::load_dataset(opts.dataset, opts.split);
  if (opts.limit && tasks.size() > opts.limit) tasks.resize(opts.limit);
  const bool oracle = opts.predictions == "reference";
  std::unordered_map<std::string, std::string> preds;
  if (!oracle) preds = load_predictions(opts.predictions);
  const stdfs::path out(opts.out_dir);
  stdfs::create_directories(out);
  const stdfs::path partial = out / "results.partial.jsonl";

  render::RenderOptions ro;
  ro.timeout_s = opts.timeout_s;
  ro.disk_bytes = static_cast<uint64_t>(opts.disk_quota_mib * (1 << 20));
  ro.allow_unsandboxed = opts.allow_unsandboxed;
  render::RenderPool pool(ro, opts.use_cache ? std::make_shared<render::RenderCache>() : nullptr, opts.workers);
  pool.renderer().check_environment();  // one clear error up front instead of 2N failed renders
  const stdfs::path python = pool.renderer().options().python.empty() ? fs::manim_python() : pool.renderer().options().python;

  // The metrics this run computes (part of the resume key). One that cannot be computed here (e.g.
  // S_CLIP without CLIP weights) is left out of s.metrics and listed in s.unavailable as
  // "NAME: reason"; every item then records the same list.
  ScoreSummary s;
  const std::string clip_dir =
      opts.clip_model.empty() ? (fs::project_root() / "models" / "clip-vit-large-patch14").string() : opts.clip_model;
  const auto clip = load_clip_for(opts, clip_dir, s);
  for (const auto& m : visual_metrics())
    if (clip || (m != "S_CLIP" && m != "VS")) s.metrics.push_back(m);
  std::string metric_tag = std::string(kMetricVersion) + (opts.exact_dtw ? "-exact" : "-fast");
  for (const auto& m : s.metrics) metric_tag += ":" + m;
  const bool resumed = opts.resume && stdfs::exists(partial);
  write_run_meta(opts, s, metric_tag, python, clip_dir, clip != nullptr, resumed);

  std::vector<Pending> items =
      plan_items(tasks, oracle, preds, resumed ? read_partial(partial) : std::unordered_map<std::string, ItemResult>{}, metric_tag);
  const size_t reused = static_cast<size_t>(std::count_if(items.begin(), items.end(), [](const Pending& p) { return p.reused; }));
  if (reused) spdlog::info("resuming: {} of {} items already scored in {}", reused, items.size(), partial.string());
  submit_renders(pool, items);

  reward::VisualOptions vo;
  vo.ssim.exact_dtw = opts.exact_dtw;
  vo.ssim.threads = opts.metric_threads;
  vo.foreground.threads = opts.metric_threads;
  vo.clip = clip.get();
  Progress progress("score", items.size());
  for (auto& p : items) {
    ItemResult r = p.reused ? p.reused_result : score_item(p, s, vo);
    if (!p.reused) fs::append_line(partial, item_to_json(r).dump());
    add_to_summary(s, r);
    std::string shown;
    for (const auto& m : s.metrics)
      if (auto it = r.metrics.find(m); it != r.metrics.end()) shown += " " + m + "=" + fmt("%.4f", it->second);
    progress.tick(1, r.id + (r.pred_ok ? " ok" + shown : " " + r.pred_failure));
    s.items.push_back(std::move(r));
  }
  s.wall_s = std::chrono::duration<double>(Clock::now() - t0).count();
  write_outputs(out, s, opts, metric_tag, python);
  stdfs::remove(partial);
  return s;
}

std::string summary_markdown(const ScoreSummary& s, const ScoreOptions& opts) {
  std::ostringstream o;
  o << "# Score: " << opts.predictions << " on " << opts.dataset << " (" << opts.split << ")\n\n";
  o << "| group | items | RSR |";
  for (const auto& m : s.metrics) o << " mean " << m << " |";
  o << " references rendered |\n|---|---:|---:|";
  for (size_t k = 0; k < s.metrics.size(); ++k) o << "---:|";
  o << "---:|\n";
  auto row = [&](const std::string& name, const Group& g) {
    o << "| " << name << " | " << g.items << " | " << fmt("%.1f%%", 100 * g.rsr()) << " |";
    for (const auto& m : s.metrics) o << " " << fmt("%.4f", g.mean(m)) << " |";
    o << " " << g.ref_rendered << " |\n";
  };
  for (const auto& [k, g] : s.by_type) row(k, g);
  row("**all**", s.overall);
  o << "\nRSR: share of items whose predicted code renders. S_SSIM: the paper's SSIM + FastDTW term. "
       "FVS: foreground visual score (SSIM over the drawn pixels, their overlap, distance, colours and "
       "amount, aligned by DTW; include/mtk/metrics/foreground.hpp). Every metric is 0 for a failed render.\n";
  for (const auto& u : s.unavailable) o << "Not computed: " << u << "\n";
  if (!s.failures.empty()) {
    o << "\n| failure class | count |\n|---|---:|\n";
    for (const auto& [k, n] : s.failures) o << "| " << k << " | " << n << " |\n";
  }
  o << "\n| id | type | result |";
  for (const auto& m : s.metrics) o << " " << m << " |";
  o << " frames ref/pred | error |\n|---|---|---|";
  for (size_t k = 0; k < s.metrics.size(); ++k) o << "---:|";
  o << "---|---|\n";
  for (const auto& r : s.items) {
    std::string err = r.pred_error;
    for (auto& c : err)
      if (c == '|' || c == '\n') c = ' ';
    if (err.size() > 80) err = err.substr(0, 77) + "...";
    o << "| " << r.id << " | " << r.type << " | " << (r.pred_ok ? "ok" : r.pred_failure) << " |";
    for (const auto& m : s.metrics) {
      auto it = r.metrics.find(m);
      o << " " << (it == r.metrics.end() ? std::string("-") : fmt("%.4f", it->second)) << " |";
    }
    o << " " << r.ref_frames << "/" << r.pred_frames << " | " << err << " |\n";
  }
  o << "\nWall time " << format_duration(s.wall_s) << ".\n";
  return o.str();
}

std::string summary_csv(const ScoreSummary& s) {
  std::ostringstream o;
  // One column per visual metric after dtw_distance, lower-cased ("fvs"); empty when not computed.
  o << "id,type,has_code,ref_ok,pred_ok,pred_failure,s_ssim,dtw_distance";
  for (const auto& m : s.metrics)
    if (m != "S_SSIM") {
      std::string c = m;
      for (auto& ch : c) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      o << ',' << c;
    }
  o << ",ref_frames,pred_frames,pred_render_s\n";
  for (const auto& r : s.items) {
    o << r.id << ',' << r.type << ',' << r.has_code << ',' << r.ref_ok << ',' << r.pred_ok << ',' << r.pred_failure
      << ',' << fmt("%.6f", r.s_ssim) << ',' << fmt("%.6f", r.dtw_distance);
    for (const auto& m : s.metrics)
      if (m != "S_SSIM") {
        auto it = r.metrics.find(m);
        o << ',' << (it == r.metrics.end() ? std::string() : fmt("%.6f", it->second));
      }
    o << ',' << r.ref_frames << ',' << r.pred_frames << ',' << fmt("%.3f", r.pred_render_s) << '\n';
  }
  return o.str();
}

}  // namespace mtk::bench
