// Shared pieces of the training recipes (common.hpp, optimizer_torch.hpp).
#include "mtk/train/common.hpp"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>

#include "mtk/core/error.hpp"
#include "mtk/core/fs.hpp"
#include "mtk/core/run_meta.hpp"
#include "mtk/llm/libtorch_version.hpp"
#include "mtk/llm/lora_torch.hpp"
#include "mtk/llm/safetensors.hpp"
#include "mtk/render/render.hpp"
#include "mtk/train/optimizer_torch.hpp"

namespace mtk::train {

namespace stdfs = std::filesystem;

namespace {
double proc_status_mb(const char* key) {
  std::ifstream f("/proc/self/status");
  std::string line;
  const std::string k(key);
  while (std::getline(f, line))
    if (line.rfind(k, 0) == 0) return std::stod(line.substr(k.size())) / 1024.0;
  return 0;
}
}  // namespace

double rss_mb() { return proc_status_mb("VmRSS:"); }
double peak_rss_mb() { return proc_status_mb("VmHWM:"); }

double lr_lambda(int step, int total, int warmup) {
  if (step < warmup) return static_cast<double>(step) / std::max(1, warmup);
  return std::max(0.0, static_cast<double>(total - step) / std::max(1, total - warmup));
}

std::vector<int64_t> epoch_order(std::mt19937_64& rng, size_t n, bool shuffle) {
  std::vector<int64_t> idx(n);
  for (size_t i = 0; i < n; ++i) idx[i] = static_cast<int64_t>(i);
  if (!shuffle) return idx;
  for (size_t i = n; i > 1; --i) std::swap(idx[i - 1], idx[static_cast<size_t>(rng() % i)]);
  return idx;
}

std::string rng_state(const std::mt19937_64& r) {
  std::ostringstream o;
  o << r;
  return o.str();
}

void set_rng_state(std::mt19937_64& r, const std::string& state) { std::istringstream(state) >> r; }

std::vector<std::pair<int, stdfs::path>> list_checkpoints(const stdfs::path& dir) {
  std::vector<std::pair<int, stdfs::path>> out;
  if (!stdfs::exists(dir)) return out;
  for (const auto& e : stdfs::directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    if (!e.is_directory() || name.rfind("checkpoint-", 0) != 0) continue;
    const std::string num = name.substr(11);
    if (num.empty() || num.find_first_not_of("0123456789") != std::string::npos) continue;
    if (!stdfs::exists(e.path() / "trainer_state.json")) continue;
    out.emplace_back(std::stoi(num), e.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

void check_config_keys(const nlohmann::json& j, const nlohmann::json& defaults, const std::string& recipe,
                       const std::string& example) {
  const std::string see = "see the keys in " + example;
  if (!j.is_object()) throw Error(recipe + " config must be a JSON object", see);
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (it.key() == "_comment" || it.key().rfind("//", 0) == 0) continue;
    if (!defaults.contains(it.key())) throw Error("unknown " + recipe + " config key '" + it.key() + "'", see);
    if (it.key() == "lora") {
      if (!it->is_object()) throw Error(recipe + " config key 'lora' must be an object", "write {\"r\": 8, ...}");
      for (auto l = it->begin(); l != it->end(); ++l)
        if (!defaults["lora"].contains(l.key()))
          throw Error("unknown " + recipe + " config key 'lora." + l.key() + "'",
                      "use lora.r, lora.alpha, lora.dropout, lora.targets");
    }
  }
}

nlohmann::json lora_config_json(const llm::LoraConfig& c) {
  return {{"r", c.r}, {"alpha", c.alpha}, {"dropout", c.dropout}, {"targets", c.targets}};
}

void read_lora_config(const nlohmann::json& j, llm::LoraConfig& c) {
  if (!j.contains("lora")) return;
  const nlohmann::json& l = j["lora"];
  if (l.contains("r")) c.r = l["r"].get<int>();
  if (l.contains("alpha")) c.alpha = l["alpha"].get<double>();
  if (l.contains("dropout")) c.dropout = l["dropout"].get<double>();
  if (l.contains("targets")) c.targets = l["targets"].get<std::vector<std::string>>();
}

void write_checkpoint(const stdfs::path& dir, int step, int keep_last, const std::function<void(const stdfs::path&)>& fill) {
  const stdfs::path final_dir = dir / ("checkpoint-" + std::to_string(step));
  const stdfs::path tmp = dir / ("checkpoint-" + std::to_string(step) + ".partial");
  stdfs::remove_all(tmp);
  stdfs::create_directories(tmp);
  fill(tmp);
  stdfs::remove_all(final_dir);
  stdfs::rename(tmp, final_dir);
  auto cks = list_checkpoints(dir);
  while (static_cast<int>(cks.size()) > keep_last) {
    stdfs::remove_all(cks.front().second);
    cks.erase(cks.begin());
  }
}

void keep_metrics_until(const stdfs::path& dir, int step, const std::string& csv_header,
                        const std::function<std::string(const nlohmann::json&)>& csv_row) {
  const stdfs::path jl = dir / "metrics.jsonl";
  std::string keep, csv = csv_header + "\n";
  if (stdfs::exists(jl)) {
    std::istringstream in(fs::read_file(jl));
    std::string line;
    while (std::getline(in, line)) {
      nlohmann::json r;
      try {
        r = nlohmann::json::parse(line);
      } catch (const nlohmann::json::exception&) {
        continue;  // empty, or cut by a kill
      }
      if (r.value("step", 0) > step) continue;
      keep += line + "\n";
      csv += csv_row(r) + "\n";
    }
  }
  fs::atomic_write(jl, keep);
  fs::atomic_write(dir / "metrics.csv", csv);
}

void write_train_run_meta(const stdfs::path& dir, const std::string& kind, const nlohmann::json& resolved, bool resume,
                          std::vector<nlohmann::json> models) {
  run_meta::Inputs meta;
  meta.kind = kind;
  meta.config = resolved;
  meta.config["resume"] = resume;
  meta.resumed = resume;
  meta.libtorch_version = llm::libtorch_version();
  meta.manim_version = [] { return render::manim_version(fs::manim_python()); };
  meta.models = std::move(models);
  run_meta::write(dir, meta);
}

std::string read_prompt_file(const std::string& path) {
  stdfs::path p(path);
  if (p.is_relative() && !stdfs::exists(p)) p = fs::project_root() / p;
  std::string s = fs::read_file(p);
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  return s;
}

// ---- AdamW --------------------------------------------------------------------------------------

AdamWState::AdamWState(std::vector<at::Tensor> p) : params(std::move(p)) {
  for (const auto& t : params) {
    exp_avg.push_back(at::zeros_like(t).detach());
    exp_avg_sq.push_back(at::zeros_like(t).detach());
  }
}

void AdamWState::zero_grad() {
  for (auto& p : params) p.mutable_grad() = at::Tensor();
}

double AdamWState::clip_grad_norm(double max_norm) {
  at::NoGradGuard ng;
  double gn2 = 0;
  for (auto& p : params)
    if (p.grad().defined()) gn2 += p.grad().to(at::kDouble).pow(2).sum().item<double>();
  const double gnorm = std::sqrt(gn2);
  if (max_norm > 0) {
    const double coef = max_norm / (gnorm + 1e-6);
    if (coef < 1)
      for (auto& p : params)
        if (p.grad().defined()) p.mutable_grad().mul_(coef);
  }
  return gnorm;
}

void AdamWState::step(double lr, int t, const AdamWOptions& o) {
  at::NoGradGuard ng;
  const double bc1 = 1 - std::pow(o.beta1, t), bc2 = 1 - std::pow(o.beta2, t);
  for (size_t i = 0; i < params.size(); ++i) {
    at::Tensor g = params[i].grad().defined() ? params[i].grad() : at::zeros_like(params[i]);
    params[i].mul_(1 - lr * o.weight_decay);
    exp_avg[i].mul_(o.beta1).add_(g, 1 - o.beta1);
    exp_avg_sq[i].mul_(o.beta2).addcmul_(g, g, 1 - o.beta2);
    const at::Tensor denom = (exp_avg_sq[i].sqrt() / std::sqrt(bc2)).add_(o.eps);
    params[i].addcdiv_(exp_avg[i], denom, -lr / bc1);
  }
}

void AdamWState::save(const std::string& path) const {
  std::vector<std::string> names;
  std::vector<at::Tensor> ts;
  for (size_t i = 0; i < params.size(); ++i) {
    names.push_back("param." + std::to_string(i));
    ts.push_back(params[i]);
    names.push_back("exp_avg." + std::to_string(i));
    ts.push_back(exp_avg[i]);
    names.push_back("exp_avg_sq." + std::to_string(i));
    ts.push_back(exp_avg_sq[i]);
  }
  llm::write_safetensors_f32(path, names, ts);
}

void AdamWState::load(const std::string& path) {
  const llm::SafetensorsFile f = llm::SafetensorsFile::open(path);
  at::NoGradGuard ng;
  for (size_t i = 0; i < params.size(); ++i) {
    for (auto [name, t] : {std::pair<std::string, at::Tensor*>{"param." + std::to_string(i), &params[i]},
                           {"exp_avg." + std::to_string(i), &exp_avg[i]},
                           {"exp_avg_sq." + std::to_string(i), &exp_avg_sq[i]}}) {
      const llm::SafeTensorInfo* info = f.find(name);
      if (!info || static_cast<int64_t>(info->n_elements) != t->numel())
        throw Error(path + ": tensor " + name + " is missing or mis-shaped", "the checkpoint is from another run");
      at::Tensor v = at::empty(t->sizes(), at::kFloat);
      llm::safetensor_to_f32(*info, v.data_ptr<float>());
      t->copy_(v);
    }
  }
}

}  // namespace mtk::train
