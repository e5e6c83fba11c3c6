// SFT of LoRA adapters (sft.hpp).
#include "mtk/train/sft.hpp"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "mtk/core/config.hpp"
#include "mtk/core/error.hpp"
#include "mtk/core/fs.hpp"
#include "mtk/core/progress.hpp"
#include "mtk/core/run_meta.hpp"
#include "mtk/data/prompt.hpp"
#include "mtk/llm/generate.hpp"
#include "mtk/llm/lora_torch.hpp"
#include "mtk/llm/model.hpp"
#include "mtk/llm/safetensors.hpp"
#include "mtk/llm/tokenizer.hpp"
#include "mtk/train/common.hpp"
#include "mtk/train/optimizer_torch.hpp"

namespace mtk::train {

namespace stdfs = std::filesystem;
using json = nlohmann::json;

// ---- configuration ------------------------------------------------------------------------------

json to_json(const SftConfig& c) {
  json j;
  j["model"] = c.model;
  j["dataset"] = c.dataset;
  j["output_dir"] = c.output_dir;
  j["system_prompt"] = c.system_prompt;
  j["user_template"] = c.user_template;
  j["max_length"] = c.max_length;
  j["validation_fraction"] = c.validation_fraction;
  j["max_train_examples"] = c.max_train_examples;
  j["max_val_examples"] = c.max_val_examples;
  j["epochs"] = c.epochs;
  j["max_steps"] = c.max_steps;
  j["batch_size"] = c.batch_size;
  j["grad_accum"] = c.grad_accum;
  j["lr"] = c.lr;
  j["warmup_ratio"] = c.warmup_ratio;
  j["weight_decay"] = c.weight_decay;
  j["adam_beta1"] = c.adam_beta1;
  j["adam_beta2"] = c.adam_beta2;
  j["adam_eps"] = c.adam_eps;
  j["max_grad_norm"] = c.max_grad_norm;
  j["seed"] = c.seed;
  j["eval_every"] = c.eval_every;
  j["save_every"] = c.save_every;
  j["keep_last"] = c.keep_last;
  j["threads"] = c.threads;
  j["dtype"] = c.dtype;
  j["shuffle"] = c.shuffle;
  j["gradient_checkpointing"] = c.gradient_checkpointing;
  j["quantize"] = c.quantize;
  j["init_adapter"] = c.init_adapter;
  j["lora"] = lora_config_json(c.lora);
  return j;
}

SftConfig sft_config_from_json(const json& j) {
  SftConfig c;
  const json defaults = to_json(c);
  json given = j;
  if (given.is_object() && given.contains("crash_after_step")) {  // a test hook older versions wrote into config.json
    spdlog::warn("SFT config: ignoring crash_after_step (no longer a configuration key)");
    given.erase("crash_after_step");
  }
  check_config_keys(given, defaults, "SFT", "configs/sft/smollm2-135m.json");
  try {
    auto get = [&](const char* k, auto& v) {
      if (j.contains(k)) v = j.at(k).get<std::decay_t<decltype(v)>>();
    };
    get("model", c.model);
    get("dataset", c.dataset);
    get("output_dir", c.output_dir);
    get("system_prompt", c.system_prompt);
    get("user_template", c.user_template);
    get("max_length", c.max_length);
    get("validation_fraction", c.validation_fraction);
    get("max_train_examples", c.max_train_examples);
    get("max_val_examples", c.max_val_examples);
    get("epochs", c.epochs);
    get("max_steps", c.max_steps);
    get("batch_size", c.batch_size);
    get("grad_accum", c.grad_accum);
    get("lr", c.lr);
    get("warmup_ratio", c.warmup_ratio);
    get("weight_decay", c.weight_decay);
    get("adam_beta1", c.adam_beta1);
    get("adam_beta2", c.adam_beta2);
    get("adam_eps", c.adam_eps);
    get("max_grad_norm", c.max_grad_norm);
    get("seed", c.seed);
    get("eval_every", c.eval_every);
    get("save_every", c.save_every);
    get("keep_last", c.keep_last);
    get("threads", c.threads);
    get("dtype", c.dtype);
    get("shuffle", c.shuffle);
    get("gradient_checkpointing", c.gradient_checkpointing);
    get("quantize", c.quantize);
    get("init_adapter", c.init_adapter);
    read_lora_config(j, c.lora);
  } catch (const json::exception& e) {
    throw Error(std::string("SFT config: a value has the wrong type: ") + e.what(), "check the config's value types");
  }
  auto positive = [](const char* k, double v) {
    if (!(v > 0)) throw Error(std::string("SFT config: ") + k + " must be positive", std::string("set ") + k);
  };
  positive("max_length", c.max_length);
  positive("batch_size", c.batch_size);
  positive("grad_accum", c.grad_accum);
  positive("epochs", c.epochs);
  positive("lr", c.lr);
  if (c.validation_fraction < 0 || c.validation_fraction >= 1)
    throw Error("SFT config: validation_fraction must be in [0, 1)", "set validation_fraction to 0.1");
  if (c.warmup_ratio < 0 || c.warmup_ratio > 1) throw Error("SFT config: warmup_ratio must be in [0, 1]", "set warmup_ratio to 0.1");
  if (c.keep_last < 1) throw Error("SFT config: keep_last must be at least 1", "set keep_last to 2");
  return c;
}

// ---- examples -----------------------------------------------------------------------------------

namespace {

std::string fill_description(const std::string& tmpl, const std::string& description) {
  const std::string key = "{description}";
  const size_t at = tmpl.find(key);
  if (at == std::string::npos)
    throw Error("the SFT user template has no {description} placeholder", "add {description} to the user_template file");
  return tmpl.substr(0, at) + description + tmpl.substr(at + key.size());
}

}  // namespace

std::pair<std::string, std::string> sft_texts(const llm::ChatTemplateSpec& chat, const std::string& system,
                                              const std::string& user_template, const data::Task& task) {
  std::vector<llm::ChatMessage> msgs{{"system", system}, {"user", fill_description(user_template, task.description)}};
  const std::string prompt = llm::apply_chat_template(chat, msgs, true);
  msgs.push_back({"assistant", data::format_completion(task.code)});
  const std::string full = llm::apply_chat_template(chat, msgs, false);
  if (full.compare(0, prompt.size(), prompt) != 0)
    throw Error(std::string("the ") + llm::chat_format_name(chat.format) +
                    " chat template does not render the conversation as prompt + completion",
                "internal error: report the model");
  return {prompt, full.substr(prompt.size())};
}

SftExample make_sft_example(const llm::Tokenizer& tok, const llm::ChatTemplateSpec& chat, const std::string& system,
                            const std::string& user_template, const data::Task& task, int max_length) {
  const auto [prompt, completion] = sft_texts(chat, system, user_template, task);
  SftExample ex;
  ex.id = task.id;
  ex.tokens = tok.encode(prompt, /*add_special=*/true, /*parse_special=*/true);
  ex.prompt_len = static_cast<int64_t>(ex.tokens.size());
  std::vector<int32_t> comp = tok.encode(completion, false, true);
  const std::vector<int32_t> eog = llm::end_of_generation_ids(tok);
  const bool has_end = std::any_of(comp.begin(), comp.end(),
                                   [&](int32_t t) { return std::find(eog.begin(), eog.end(), t) != eog.end(); });
  if (!has_end && tok.eos() >= 0) comp.push_back(tok.eos());
  ex.tokens.insert(ex.tokens.end(), comp.begin(), comp.end());
  if (static_cast<int64_t>(ex.tokens.size()) > max_length) {
    ex.tokens.resize(static_cast<size_t>(max_length));
    ex.truncated = true;
  }
  if (ex.prompt_len >= static_cast<int64_t>(ex.tokens.size())) ex.tokens.clear();  // no completion left
  return ex;
}

std::pair<std::vector<data::Task>, std::vector<data::Task>> split_validation(const std::vector<data::Task>& tasks,
                                                                             double fraction, uint64_t seed) {
  const size_t n = tasks.size();
  size_t n_val = static_cast<size_t>(std::ceil(fraction * static_cast<double>(n)));
  if (fraction > 0 && n > 1) n_val = std::clamp<size_t>(n_val, 1, n - 1);
  else n_val = 0;
  std::vector<size_t> idx(n);
  for (size_t i = 0; i < n; ++i) idx[i] = i;
  std::mt19937_64 rng(seed ^ 0x5f17a11dULL);
  for (size_t i = n; i > 1; --i) std::swap(idx[i - 1], idx[static_cast<size_t>(rng() % i)]);
  std::vector<bool> is_val(n, false);
  for (size_t i = 0; i < n_val; ++i) is_val[idx[i]] = true;
  std::pair<std::vector<data::Task>, std::vector<data::Task>> out;
  for (size_t i = 0; i < n; ++i) (is_val[i] ? out.second : out.first).push_back(tasks[i]);
  return out;
}

// ---- training -----------------------------------------------------------------------------------

namespace {

// Sum of the completion tokens' negative log-likelihoods of one example, and their count.
at::Tensor example_nll(const llm::Model& model, const SftExample& ex) {
  const int64_t n = static_cast<int64_t>(ex.tokens.size());
  const at::Tensor ids = at::tensor(std::vector<int64_t>(ex.tokens.begin(), ex.tokens.end()), at::kLong);
  const at::Tensor h = model.forward_hidden(ids.narrow(0, 0, n - 1).view({1, n - 1}));
  // Position t predicts token t + 1; completion tokens are prompt_len .. n-1.
  const at::Tensor hs = h.select(0, 0).narrow(0, ex.prompt_len - 1, n - ex.prompt_len);
  const at::Tensor logits = model.output_logits(hs);
  const at::Tensor target = ids.narrow(0, ex.prompt_len, n - ex.prompt_len).to(logits.device());
  return at::cross_entropy_loss(logits, target, {}, at::Reduction::Sum);
}

struct TrainState {
  int step = 0;
  int epoch = 0;
  std::vector<int64_t> order;  // this epoch's example order
  std::string rng;             // the shuffling RNG after drawing `order`
  double best_val = -1;
  int best_step = 0;
};

json state_json(const TrainState& s, int total, int warmup) {
  return {{"step", s.step},           {"epoch", s.epoch}, {"data_order", s.order}, {"rng_state", s.rng},
          {"best_val_loss", s.best_val}, {"best_step", s.best_step}, {"total_steps", total},
          {"warmup_steps", warmup},   {"scheduler", "linear"}, {"threads_used", at::get_num_threads()}};
}

std::string csv_header() { return "step,epoch,loss,lr,grad_norm,tokens,completion_tokens,tokens_per_s,step_time_s,rss_mb,val_loss"; }

std::string csv_row(const json& r) {
  auto num = [](const json& v) {
    if (v.is_null()) return std::string();
    std::ostringstream o;
    o.precision(10);
    o << v.get<double>();
    return o.str();
  };
  std::string s;
  for (const char* k : {"step", "epoch", "loss", "lr", "grad_norm", "tokens", "completion_tokens", "tokens_per_s",
                        "step_time_s", "rss_mb", "val_loss"}) {
    if (!s.empty()) s += ",";
    s += num(r.value(k, json()));
  }
  return s;
}

// Keeps the metrics rows up to `step` (a resumed run rewrites what the killed run logged later).
void truncate_metrics(const stdfs::path& dir, int step) { keep_metrics_until(dir, step, csv_header(), csv_row); }

// The settings that shape the numbers must match on resume, or the resumed run would not reproduce
// the uninterrupted one: every key but where the run is written (output_dir), how often it is
// checkpointed (save_every) and how many checkpoints are kept (keep_last). threads
// changes the order of floating-point reductions, gradient_checkpointing recomputes activations
// (equal to about 1e-12, not bit for bit), eval_every decides which validation losses are logged
// and which adapter is kept as best. `before` is the run's config.json read back (keys it lacks
// take their defaults).
void check_resume_settings(const SftConfig& before_cfg, const SftConfig& now_cfg, const stdfs::path& out) {
  const json before = to_json(before_cfg), now = to_json(now_cfg);
  std::vector<std::pair<std::string, std::pair<json, json>>> diffs;  // dotted key -> (old, new)
  for (auto it = now.begin(); it != now.end(); ++it) {
    const std::string& k = it.key();
    if (k == "output_dir" || k == "save_every" || k == "keep_last") continue;
    if (it->is_object()) {
      for (auto l = it->begin(); l != it->end(); ++l)
        if (before[k][l.key()] != *l) diffs.push_back({k + "." + l.key(), {before[k][l.key()], *l}});
    } else if (before[k] != *it) {
      diffs.push_back({k, {before[k], *it}});
    }
  }
  if (diffs.empty()) return;
  std::string what = "cannot resume " + out.string() + ": settings differ from those it was trained with, and the "
                     "resumed run would not reproduce the uninterrupted one:";
  std::string sets;
  for (const auto& [k, v] : diffs) {
    what += " " + k + " was " + v.first.dump() + ", now " + v.second.dump() + ";";
    sets += " --set " + k + "=" + v.first.dump();
  }
  what.pop_back();
  throw Error(what, "resume with the old value" + std::string(diffs.size() > 1 ? "s" : "") + " (" + sets.substr(1) +
                        "), or start a new run with another output_dir");
}

// threads=0 takes every hardware thread: the same setting on another machine is another count, so
// the count the newest checkpoint was written with (threads_used, absent in older checkpoints) must
// be the one this process runs with.
void check_resume_threads(const stdfs::path& out, int threads_setting) {
  const auto cks = list_checkpoints(out);
  if (cks.empty()) return;
  const json s = json::parse(fs::read_file(cks.back().second / "trainer_state.json"));
  const int used = s.value("threads_used", 0), now = at::get_num_threads();
  if (used <= 0 || used == now) return;
  throw Error("cannot resume " + out.string() + ": it was trained with " + std::to_string(used) +
                  " threads and would resume with " + std::to_string(now) + " (threads=" + std::to_string(threads_setting) +
                  (threads_setting > 0 ? "" : ": every hardware thread") + "), which changes the numbers",
              "resume with --set threads=" + std::to_string(used) + ", or start a new run with another output_dir");
}

}  // namespace

SftResult run_sft(const SftConfig& cfg, llm::Model& model, const llm::Tokenizer& tok, const llm::ChatTemplateSpec& chat,
                  const std::vector<data::Task>& train_tasks, bool resume, const std::string& base_model_name,
                  const SftRunOptions& run) {

  // Data: validation carved from train.
  const std::string system = read_prompt_file(cfg.system_prompt);
  const std::string user_t = read_prompt_file(cfg.user_template);
  auto [tr_tasks, val_tasks] = split_validation(train_tasks, cfg.validation_fraction, cfg.seed);
  if (cfg.max_train_examples > 0 && tr_tasks.size() > static_cast<size_t>(cfg.max_train_examples))
    tr_tasks.resize(static_cast<size_t>(cfg.max_train_examples));
  if (cfg.max_val_examples > 0 && val_tasks.size() > static_cast<size_t>(cfg.max_val_examples))
    val_tasks.resize(static_cast<size_t>(cfg.max_val_examples));
  auto tokenise = [&](const std::vector<data::Task>& ts, const char* what) {
    std::vector<SftExample> v;
    int dropped = 0, truncated = 0;
    int64_t tokens = 0;
    for (const auto& t : ts) {
      if (t.code.empty()) continue;
      SftExample ex = make_sft_example(tok, chat, system, user_t, t, cfg.max_length);
      if (ex.tokens.empty()) {
        ++dropped;
        continue;
      }
      truncated += ex.truncated;
      tokens += static_cast<int64_t>(ex.tokens.size());
      v.push_back(std::move(ex));
    }
    spdlog::info("sft: {} {} examples ({} tokens, {} truncated to {}, {} dropped: prompt too long)", v.size(), what,
                 tokens, truncated, cfg.max_length, dropped);
    return v;
  };
  const std::vector<SftExample> train = tokenise(tr_tasks, "train");
  const std::vector<SftExample> val = tokenise(val_tasks, "validation");

  return run_sft_examples(cfg, model, train, val, resume, base_model_name, run);
}

SftResult run_sft_examples(const SftConfig& cfg, llm::Model& model, const std::vector<SftExample>& train,
                           const std::vector<SftExample>& val, bool resume, const std::string& base_model_name,
                           const SftRunOptions& run) {
  using clock = std::chrono::steady_clock;
  const stdfs::path out(cfg.output_dir);
  if (train.empty()) throw Error("no training examples", "check the dataset's train split (tasks need code)");
  at::set_num_threads(cfg.threads > 0 ? cfg.threads : std::max(1, static_cast<int>(std::thread::hardware_concurrency())));
  stdfs::create_directories(out);
  const json resolved = to_json(cfg);
  if (resume) {
    if (stdfs::exists(out / "config.json"))
      check_resume_settings(sft_config_from_json(json::parse(fs::read_file(out / "config.json"))), cfg, out);
    check_resume_threads(out, cfg.threads);
  }
  fs::atomic_write(out / "config.json", resolved.dump(2) + "\n");
  write_train_run_meta(out, "manim-train sft", resolved, resume,
                       {run.model_file.empty()
                            ? json{{"role", "model"}, {"name", base_model_name}, {"path", nullptr}, {"sha256", nullptr}}
                            : run_meta::model_json("model", base_model_name, run.model_file)});
  const int per_step = cfg.batch_size * cfg.grad_accum;
  const int steps_per_epoch = static_cast<int>((train.size() + static_cast<size_t>(per_step) - 1) / static_cast<size_t>(per_step));
  const int total = cfg.max_steps > 0 ? cfg.max_steps : steps_per_epoch * cfg.epochs;
  const int warmup = static_cast<int>(std::ceil(cfg.warmup_ratio * total));

  // Adapter and optimizer state.
  std::shared_ptr<llm::LoraSet> lora;
  if (cfg.init_adapter.empty()) {
    lora = llm::LoraSet::create(model, cfg.lora, cfg.seed);
  } else {
    lora = llm::LoraSet::load_peft(cfg.init_adapter, model);
    for (auto& p : llm::lora_parameters(*lora)) p.requires_grad_(true);
    spdlog::info("sft: starting from the adapter in {} (r={}, alpha={})", cfg.init_adapter, lora->config().r,
                 lora->config().alpha);
  }
  model.set_adapter(lora);
  model.set_gradient_checkpointing(cfg.gradient_checkpointing);
  AdamWState opt(llm::lora_parameters(*lora));
  std::vector<at::Tensor>& params = opt.params;
  TrainState st;
  std::mt19937_64 rng(cfg.seed);
  if (resume) {
    const auto cks = list_checkpoints(out);
    if (cks.empty())
      throw Error("no complete checkpoint in " + out.string() + " to resume from", "run without --resume to start afresh");
    const stdfs::path ck = cks.back().second;
    const json s = json::parse(fs::read_file(ck / "trainer_state.json"));
    st.step = s.at("step").get<int>();
    st.epoch = s.at("epoch").get<int>();
    st.order = s.at("data_order").get<std::vector<int64_t>>();
    st.rng = s.at("rng_state").get<std::string>();
    st.best_val = s.at("best_val_loss").get<double>();
    st.best_step = s.at("best_step").get<int>();
    std::istringstream(st.rng) >> rng;
    opt.load((ck / "trainer_tensors.safetensors").string());
    truncate_metrics(out, st.step);
    spdlog::info("sft: resumed from {} (step {}/{})", ck.string(), st.step, total);
  } else {
    truncate_metrics(out, 0);
    st.order = epoch_order(rng, train.size(), cfg.shuffle);
    st.rng = rng_state(rng);
  }
  spdlog::info("sft: {} steps ({} per epoch, {} examples per step), warm-up {}, LoRA r={} alpha={} on {} tensors ({} parameters)",
               total, steps_per_epoch, per_step, warmup, cfg.lora.r, cfg.lora.alpha, params.size(), lora->parameter_count());

  auto eval_loss = [&]() -> double {
    if (val.empty()) return -1;
    at::NoGradGuard ng;
    double sum = 0;
    int64_t count = 0;
    for (const auto& ex : val) {
      sum += example_nll(model, ex).item<double>();
      count += static_cast<int64_t>(ex.tokens.size()) - ex.prompt_len;
    }
    return sum / static_cast<double>(count);
  };

  auto save_checkpoint = [&]() {
    write_checkpoint(out, st.step, cfg.keep_last, [&](const stdfs::path& tmp) {
      opt.save((tmp / "trainer_tensors.safetensors").string());
      lora->save_peft(tmp.string(), base_model_name);
      fs::atomic_write(tmp / "trainer_state.json", state_json(st, total, warmup).dump(2) + "\n");
    });
  };

  SftResult res;
  res.total_steps = total;
  const auto t_run = clock::now();
  double tokens_total = 0;
  int steps_here = 0;
  while (st.step < total) {
    const auto t0 = clock::now();
    // The examples of this step: positions [pos, pos + per_step) of the epoch order.
    const int in_epoch = st.step % steps_per_epoch;
    std::vector<const SftExample*> batch;
    for (int j = 0; j < per_step; ++j) {
      const size_t pos = static_cast<size_t>(in_epoch) * static_cast<size_t>(per_step) + static_cast<size_t>(j);
      if (pos >= train.size()) break;
      batch.push_back(&train[static_cast<size_t>(st.order[pos])]);
    }
    int64_t comp_tokens = 0, tokens = 0;
    for (const auto* ex : batch) {
      comp_tokens += static_cast<int64_t>(ex->tokens.size()) - ex->prompt_len;
      tokens += static_cast<int64_t>(ex->tokens.size());
    }
    for (auto& p : params) p.mutable_grad() = at::Tensor();
    double loss_sum = 0;
    for (const auto* ex : batch) {
      at::Tensor l = example_nll(model, *ex) / static_cast<double>(comp_tokens);
      l.backward();
      loss_sum += l.item<double>();
    }
    const double lr = cfg.lr * lr_lambda(st.step, total, warmup);
    const double grad_norm = opt.clip_grad_norm(cfg.max_grad_norm);
    opt.step(lr, st.step + 1, {cfg.adam_beta1, cfg.adam_beta2, cfg.adam_eps, cfg.weight_decay});
    ++st.step;
    if (st.step % steps_per_epoch == 0 && st.step < total) {
      ++st.epoch;
      st.order = epoch_order(rng, train.size(), cfg.shuffle);
      st.rng = rng_state(rng);
    }
    const double dt = std::chrono::duration<double>(clock::now() - t0).count();
    tokens_total += static_cast<double>(tokens);
    StepRecord rec;
    rec.step = st.step;
    rec.loss = loss_sum;
    rec.lr = lr;
    rec.grad_norm = grad_norm;
    rec.tokens = tokens;
    rec.completion_tokens = comp_tokens;
    rec.step_time_s = dt;
    rec.tokens_per_s = static_cast<double>(tokens) / dt;
    const bool last = st.step == total;
    if (last || (cfg.eval_every > 0 && st.step % cfg.eval_every == 0)) {
      rec.val_loss = eval_loss();
      if (rec.val_loss >= 0 && (st.best_val < 0 || rec.val_loss < st.best_val)) {
        st.best_val = rec.val_loss;
        st.best_step = st.step;
        lora->save_peft((out / "best").string(), base_model_name);
        lora->save_gguf((out / "best" / "adapter.gguf").string());
      }
    }
    const double mem = rss_mb();
    json row = {{"step", rec.step},
                {"epoch", static_cast<double>(st.step) / steps_per_epoch},
                {"loss", rec.loss},
                {"lr", rec.lr},
                {"grad_norm", rec.grad_norm},
                {"tokens", rec.tokens},
                {"completion_tokens", rec.completion_tokens},
                {"tokens_per_s", rec.tokens_per_s},
                {"step_time_s", rec.step_time_s},
                {"rss_mb", mem},
                {"val_loss", rec.val_loss >= 0 ? json(rec.val_loss) : json()}};
    fs::append_line(out / "metrics.jsonl", row.dump());
    fs::append_line(out / "metrics.csv", csv_row(row));
    const double elapsed = std::chrono::duration<double>(clock::now() - t_run).count();
    ++steps_here;
    res.steps = st.step;
    res.history.push_back(rec);
    spdlog::info("sft step {}/{} loss {:.4f} lr {:.3g} grad_norm {:.3f} {:.0f} tok/s step {:.2f}s rss {:.0f} MB{} ETA {}",
                 st.step, total, rec.loss, lr, rec.grad_norm, rec.tokens_per_s, dt, mem,
                 rec.val_loss >= 0 ? fmt::format(" val_loss {:.4f}", rec.val_loss) : std::string(),
                 format_duration(elapsed / steps_here * static_cast<double>(total - st.step)));
    if (run.crash_after_step > 0 && st.step == run.crash_after_step) {
      res.crashed = true;
      break;
    }
    if (last || (cfg.save_every > 0 && st.step % cfg.save_every == 0)) save_checkpoint();
  }
  res.train_wall_s = std::chrono::duration<double>(clock::now() - t_run).count();
  res.tokens_per_s = res.train_wall_s > 0 ? tokens_total / res.train_wall_s : 0;
  res.best_val_loss = st.best_val;
  res.best_step = st.best_step;
  if (!res.crashed) {
    lora->save_peft((out / "adapter").string(), base_model_name);
    lora->save_gguf((out / "adapter.gguf").string());  // for llama.cpp (--lora) and manim-agent --adapter
  }
  // The whole run's history, from metrics.jsonl.
  res.history.clear();
  std::istringstream in(fs::read_file(out / "metrics.jsonl"));
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    const json r = json::parse(line);
    StepRecord x;
    x.step = r["step"];
    x.loss = r["loss"];
    x.lr = r["lr"];
    x.grad_norm = r["grad_norm"];
    x.tokens = r["tokens"];
    x.completion_tokens = r["completion_tokens"];
    x.tokens_per_s = r["tokens_per_s"];
    x.step_time_s = r["step_time_s"];
    x.val_loss = r["val_loss"].is_null() ? -1.0 : r["val_loss"].get<double>();
    res.history.push_back(x);
  }
  return res;
}

SftResult run_sft(const SftConfig& cfg, bool resume) {
  llm::LanguageModel::Options o;
  o.dtype = cfg.dtype;
  o.quantize = cfg.quantize;
  auto lm = llm::LanguageModel::load(cfg.model, o);
  const auto tasks = data::load_dataset(cfg.dataset, "train");
  SftRunOptions run;
  run.model_file = lm->path();
  return run_sft(cfg, lm->mutable_model(), lm->tokenizer(), lm->chat_template(), tasks, resume, cfg.model, run);
}

}  // namespace mtk::train
