// GRPO of LoRA adapters (grpo.hpp): the recipe; the loss is grpo_loss_torch.hpp's.
#include "mtk/train/grpo.hpp"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <future>
#include <limits>
#include <memory>
#include <random>
#include <sstream>
#include <thread>

#include "mtk/core/error.hpp"
#include "mtk/core/fs.hpp"
#include "mtk/core/progress.hpp"
#include "mtk/core/run_meta.hpp"
#include "mtk/data/dataset.hpp"
#include "mtk/data/prompt.hpp"
#include "mtk/llm/generate.hpp"
#include "mtk/llm/lora_torch.hpp"
#include "mtk/llm/model.hpp"
#include "mtk/llm/tokenizer.hpp"
#include "mtk/render/cache.hpp"
#include "mtk/render/pool.hpp"
#include "mtk/reward/code.hpp"
#include "mtk/reward/visual.hpp"
#include "mtk/train/common.hpp"
#include "mtk/train/grpo_loss_torch.hpp"
#include "mtk/train/optimizer_torch.hpp"
#include "mtk/train/sft.hpp"
#include "mtk/video/decode.hpp"

namespace mtk::train {

namespace stdfs = std::filesystem;
using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

// ---- configuration ------------------------------------------------------------------------------

namespace {

// The loss options of a config, checked (throws mtk::Error naming the key).
GrpoLossConfig loss_config(const GrpoConfig& c) {
  GrpoLossConfig l;
  l.loss_type = parse_grpo_loss_type(c.loss_type);
  l.epsilon_low = c.epsilon;
  l.epsilon_high = c.epsilon_high;
  l.beta = c.beta;
  l.use_bias_correction_kl = c.use_bias_correction_kl;
  l.max_completion_length = c.max_completion_length;
  validate(l);
  return l;
}

}  // namespace

json to_json(const GrpoConfig& c) {
  json r;
  reward::to_json(r, c.reward);
  return {{"model", c.model},
          {"init_adapter", c.init_adapter},
          {"dataset", c.dataset},
          {"split", c.split},
          {"output_dir", c.output_dir},
          {"system_prompt", c.system_prompt},
          {"user_template", c.user_template},
          {"max_train_examples", c.max_train_examples},
          {"num_generations", c.num_generations},
          {"prompts_per_step", c.prompts_per_step},
          {"num_iterations", c.num_iterations},
          {"max_steps", c.max_steps},
          {"max_prompt_length", c.max_prompt_length},
          {"max_completion_length", c.max_completion_length},
          {"temperature", c.temperature},
          {"top_p", c.top_p},
          {"min_p", c.min_p},
          {"top_k", c.top_k},
          {"loss_type", c.loss_type},
          {"beta", c.beta},
          {"epsilon", c.epsilon},
          {"epsilon_high", c.epsilon_high},
          {"use_bias_correction_kl", c.use_bias_correction_kl},
          {"scale_rewards", c.scale_rewards},
          {"mask_truncated_completions", c.mask_truncated_completions},
          {"lr", c.lr},
          {"warmup_ratio", c.warmup_ratio},
          {"weight_decay", c.weight_decay},
          {"adam_beta1", c.adam_beta1},
          {"adam_beta2", c.adam_beta2},
          {"adam_eps", c.adam_eps},
          {"max_grad_norm", c.max_grad_norm},
          {"reward", r},
          {"clip_model", c.clip_model},
          {"codebert_model", c.codebert_model},
          {"render_timeout_s", c.render_timeout_s},
          {"render_workers", c.render_workers},
          {"allow_unsandboxed", c.allow_unsandboxed},
          {"seed", c.seed},
          {"save_every", c.save_every},
          {"keep_last", c.keep_last},
          {"threads", c.threads},
          {"dtype", c.dtype},
          {"lora", lora_config_json(c.lora)}};
}

GrpoConfig grpo_config_from_json(const json& j) {
  GrpoConfig c;
  const json defaults = to_json(c);
  check_config_keys(j, defaults, "GRPO", "configs/grpo/smollm2-135m-cpu.json");
  try {
    auto get = [&](const char* k, auto& v) {
      if (j.contains(k)) v = j.at(k).get<std::decay_t<decltype(v)>>();
    };
    get("model", c.model);
    get("init_adapter", c.init_adapter);
    get("dataset", c.dataset);
    get("split", c.split);
    get("output_dir", c.output_dir);
    get("system_prompt", c.system_prompt);
    get("user_template", c.user_template);
    get("max_train_examples", c.max_train_examples);
    get("num_generations", c.num_generations);
    get("prompts_per_step", c.prompts_per_step);
    get("num_iterations", c.num_iterations);
    get("max_steps", c.max_steps);
    get("max_prompt_length", c.max_prompt_length);
    get("max_completion_length", c.max_completion_length);
    get("temperature", c.temperature);
    get("top_p", c.top_p);
    get("min_p", c.min_p);
    get("top_k", c.top_k);
    get("loss_type", c.loss_type);
    get("beta", c.beta);
    get("epsilon", c.epsilon);
    get("epsilon_high", c.epsilon_high);
    get("use_bias_correction_kl", c.use_bias_correction_kl);
    get("scale_rewards", c.scale_rewards);
    get("mask_truncated_completions", c.mask_truncated_completions);
    get("lr", c.lr);
    get("warmup_ratio", c.warmup_ratio);
    get("weight_decay", c.weight_decay);
    get("adam_beta1", c.adam_beta1);
    get("adam_beta2", c.adam_beta2);
    get("adam_eps", c.adam_eps);
    get("max_grad_norm", c.max_grad_norm);
    get("clip_model", c.clip_model);
    get("codebert_model", c.codebert_model);
    get("render_timeout_s", c.render_timeout_s);
    get("render_workers", c.render_workers);
    get("allow_unsandboxed", c.allow_unsandboxed);
    get("seed", c.seed);
    get("save_every", c.save_every);
    get("keep_last", c.keep_last);
    get("threads", c.threads);
    get("dtype", c.dtype);
    read_lora_config(j, c.lora);
  } catch (const json::exception& e) {
    throw Error(std::string("GRPO config: a value has the wrong type: ") + e.what(), "check the config's value types");
  }
  if (j.contains("reward")) c.reward = reward::spec_from_json(j["reward"]);
  c.reward.validate();
  auto positive = [](const char* k, double v) {
    if (!(v > 0)) throw Error(std::string("GRPO config: ") + k + " must be positive", std::string("set ") + k);
  };
  positive("num_generations", c.num_generations);
  positive("prompts_per_step", c.prompts_per_step);
  positive("num_iterations", c.num_iterations);
  positive("max_steps", c.max_steps);
  positive("max_prompt_length", c.max_prompt_length);
  positive("max_completion_length", c.max_completion_length);
  positive("temperature", c.temperature);
  positive("lr", c.lr);
  positive("render_timeout_s", c.render_timeout_s);
  if (c.num_generations < 2)
    throw Error("GRPO config: num_generations must be at least 2 (advantages compare completions of a prompt)",
                "set num_generations to 8 (the paper) or at least 2");
  if (c.top_p <= 0 || c.top_p > 1) throw Error("GRPO config: top_p must be in (0, 1]", "set top_p to 0.9");
  if (c.min_p < 0 || c.min_p >= 1) throw Error("GRPO config: min_p must be in [0, 1)", "set min_p to 0.1");
  if (c.warmup_ratio < 0 || c.warmup_ratio > 1) throw Error("GRPO config: warmup_ratio must be in [0, 1]", "set warmup_ratio to 0.1");
  if (c.keep_last < 1) throw Error("GRPO config: keep_last must be at least 1", "set keep_last to 2");
  loss_config(c);
  parse_scale_rewards(c.scale_rewards);
  return c;
}

std::vector<std::string> grpo_metric_names(const reward::RewardSpec& spec) {
  std::vector<std::string> n{"step", "epoch", "loss", "grad_norm", "learning_rate", "num_tokens", "reward", "reward_std",
                             "frac_reward_zero_std"};
  for (const std::string& t : {spec.code_term, spec.visual_term})
    if (t != "none")
      for (const char* s : {"/mean", "/std"}) n.push_back("rewards/" + t + s);
  for (const char* k : {"kl", "entropy", "clip_ratio/low_mean", "clip_ratio/low_min", "clip_ratio/high_mean",
                        "clip_ratio/high_max", "clip_ratio/region_mean", "completions/mean_length",
                        "completions/min_length", "completions/max_length", "completions/clipped_ratio",
                        "completions/mean_terminated_length", "completions/min_terminated_length",
                        "completions/max_terminated_length", "render/success_rate", "render/no_code_rate",
                        "render/ref_success_rate", "sampler/max_logp_diff", "sampler/mean_logp_diff", "time/generation", "time/render",
                        "time/metrics", "time/update", "time/step", "tokens_per_s", "rss_mb", "peak_rss_mb"})
    n.emplace_back(k);
  return n;
}

namespace {

// ---- run folder: metrics and checkpoints ----------------------------------------------------------

std::string csv_header(const std::vector<std::string>& names) {
  std::string s;
  for (const auto& n : names) s += n + ",";
  return s + "render_failures";
}

std::string csv_row(const json& r, const std::vector<std::string>& names) {
  std::string s;
  for (const auto& n : names) {
    const json v = r.value(n, json());
    if (v.is_number()) {
      std::ostringstream o;
      o.precision(10);
      o << v.get<double>();
      s += o.str();
    }
    s += ",";
  }
  std::string f;
  const json fails = r.value("render_failures", json::object());
  for (auto it = fails.begin(); it != fails.end(); ++it) f += (f.empty() ? "" : ";") + it.key() + ":" + std::to_string(it->get<int>());
  return s + f;
}

struct TrainState {
  int step = 0;     // generation batches done
  int updates = 0;  // optimizer updates done
  int epoch = 0;
  size_t cursor = 0;           // next position in `order`
  std::vector<int64_t> order;  // this epoch's task order
  std::string rng;             // the data RNG after drawing `order`
  double num_tokens = 0;       // TRL `num_tokens`: prompt + completion tokens seen
};

// ---- a step's completions -----------------------------------------------------------------------

struct Completion {
  size_t task = 0;  // index into the train tasks
  std::vector<int32_t> prompt, tokens;
  std::vector<float> old_logp;  // the sampler's, one per token
  std::string code;
  bool terminated = false;  // ended at an end-of-generation token (not at the length limit)
  std::shared_future<render::RenderResult> render;
  std::string failure;  // "" when rendered; a failure class or no_code otherwise
  reward::RewardInput in;
  reward::Reward reward;
};

// A reference's render, decoded once per run.
struct Reference {
  bool ok = false;
  std::string failure;
  video::Frames frames;
};

// Per-token log-probs of `c.tokens` under log_softmax(logits / T) of the model as it is now (with
// autograd unless under NoGradGuard); entropies of the same distributions into *entropy.
at::Tensor completion_logps(const llm::Model& model, const Completion& c, double temperature, at::Tensor* entropy) {
  std::vector<int64_t> ids(c.prompt.begin(), c.prompt.end());
  ids.insert(ids.end(), c.tokens.begin(), c.tokens.end());
  const int64_t n = static_cast<int64_t>(ids.size()), p = static_cast<int64_t>(c.prompt.size());
  const at::Tensor t = at::tensor(ids, at::kLong);
  const at::Tensor h = model.forward_hidden(t.narrow(0, 0, n - 1).view({1, n - 1}));
  // Position i predicts token i + 1: the completion's tokens are predicted from positions p-1 .. n-2.
  const at::Tensor logits = model.output_logits(h.select(0, 0).narrow(0, p - 1, n - p)).to(at::kFloat) / temperature;
  const at::Tensor lsm = at::log_softmax(logits, -1);
  if (entropy) {
    at::NoGradGuard ng;
    *entropy = -(lsm.exp() * lsm).sum(-1);
  }
  return lsm.gather(1, t.narrow(0, p, n - p).to(logits.device()).view({n - p, 1})).view({n - p});
}

// Rows of different lengths padded with zeros into [B, T].
at::Tensor pad_rows(const std::vector<at::Tensor>& rows, int64_t T) {
  std::vector<at::Tensor> padded;
  for (const auto& r : rows) padded.push_back(at::constant_pad_nd(r, {0, T - r.size(0)}, 0));
  return at::stack(padded);
}

}  // namespace

double grpo_sequence_share(GrpoLossType t, int64_t batch, double active, double active_total) {
  switch (t) {
    case GrpoLossType::grpo:
    case GrpoLossType::dr_grpo: return 1.0 / static_cast<double>(batch);
    case GrpoLossType::bnpo: return std::max(1.0, active) / std::max(1.0, active_total);
    case GrpoLossType::dapo: return 1.0;
  }
  return 1.0;
}

namespace {

double mean_of(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return v.empty() ? 0.0 : s / static_cast<double>(v.size());
}

double std_of(const std::vector<double>& v) {  // unbiased, as torch.std
  if (v.size() < 2) return 0;
  const double m = mean_of(v);
  double s = 0;
  for (double x : v) s += (x - m) * (x - m);
  return std::sqrt(s / static_cast<double>(v.size() - 1));
}

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

}  // namespace

GrpoResult run_grpo(const GrpoConfig& cfg, bool resume, const GrpoRunOptions& run) {
  // ---- set-up: everything that can fail does so before step 1 ----
  const GrpoLossConfig lcfg = loss_config(cfg);
  const ScaleRewards scale = parse_scale_rewards(cfg.scale_rewards);
  reward::check_weights(cfg.reward, cfg.clip_model, cfg.codebert_model);
  at::set_num_threads(cfg.threads > 0 ? cfg.threads : std::max(1, static_cast<int>(std::thread::hardware_concurrency())));

  render::RenderOptions ro;
  ro.timeout_s = cfg.render_timeout_s;
  ro.allow_unsandboxed = cfg.allow_unsandboxed;
  render::RenderPool pool(ro, std::make_shared<render::RenderCache>(), cfg.render_workers);
  pool.renderer().check_environment();

  std::shared_ptr<const encoders::ClipVisionEncoder> clip;
  if (cfg.reward.needs_clip())
    clip = reward::load_clip(cfg.clip_model.empty() ? (fs::project_root() / "models" / "clip-vit-large-patch14").string()
                                                    : cfg.clip_model);
  const reward::CodeCosineFn cosine = cfg.reward.needs_codebert() ? reward::code_cosine_codebert(cfg.codebert_model)
                                                                 : reward::CodeCosineFn();
  reward::VisualOptions vo;
  vo.clip = clip.get();

  std::vector<data::Task> tasks;
  for (auto& t : data::load_dataset(cfg.dataset, cfg.split))
    if (!t.code.empty()) tasks.push_back(std::move(t));
  if (cfg.max_train_examples > 0 && tasks.size() > static_cast<size_t>(cfg.max_train_examples))
    tasks.resize(static_cast<size_t>(cfg.max_train_examples));
  if (tasks.empty()) throw Error("no tasks with reference code in " + cfg.dataset + " (" + cfg.split + ")", "check dataset and split");
  const std::string system = read_prompt_file(cfg.system_prompt);
  const std::string user_t = read_prompt_file(cfg.user_template);

  llm::LanguageModel::Options mo;
  mo.dtype = cfg.dtype;
  auto lm = llm::LanguageModel::load(cfg.model, mo);
  llm::Model& model = lm->mutable_model();
  const llm::Tokenizer& tok = lm->tokenizer();
  std::shared_ptr<llm::LoraSet> lora;
  if (cfg.init_adapter.empty()) {
    lora = llm::LoraSet::create(model, cfg.lora, cfg.seed);
  } else {
    lora = llm::LoraSet::load_peft(cfg.init_adapter, model);
    spdlog::info("grpo: continuing the adapter in {} (r={}, alpha={})", cfg.init_adapter, lora->config().r,
                 lora->config().alpha);
  }
  for (auto& p : llm::lora_parameters(*lora)) p.requires_grad_(true);
  model.set_adapter(lora);
  AdamWState opt(llm::lora_parameters(*lora));
  const AdamWOptions adam{cfg.adam_beta1, cfg.adam_beta2, cfg.adam_eps, cfg.weight_decay};
  const std::vector<int32_t> eog = llm::end_of_generation_ids(tok);

  // ---- run folder, resume ----
  const stdfs::path out(cfg.output_dir);
  stdfs::create_directories(out);
  const json resolved = to_json(cfg);
  auto shape_of = [](json j) {
    for (const char* k : {"output_dir", "save_every", "keep_last", "render_workers", "render_timeout_s"}) j.erase(k);
    return j;
  };
  if (resume && stdfs::exists(out / "config.json") &&
      shape_of(json::parse(fs::read_file(out / "config.json"))) != shape_of(resolved))
    throw Error("the configuration differs from the one " + out.string() + " was trained with",
                "resume with the same settings (see " + (out / "config.json").string() + ") or use a new output_dir");
  fs::atomic_write(out / "config.json", resolved.dump(2) + "\n");
  {
    std::vector<json> models{run_meta::model_json("model", cfg.model, lm->path())};
    if (!cfg.init_adapter.empty()) models.push_back(run_meta::model_json("init_adapter", cfg.init_adapter, cfg.init_adapter));
    write_train_run_meta(out, "manim-train grpo", resolved, resume, std::move(models));
  }
  const std::vector<std::string> names = grpo_metric_names(cfg.reward);
  const int total_updates = cfg.max_steps * cfg.num_iterations;
  const int warmup = static_cast<int>(std::ceil(cfg.warmup_ratio * total_updates));

  TrainState st;
  std::mt19937_64 data_rng(cfg.seed);
  if (resume) {
    const auto cks = list_checkpoints(out);
    if (cks.empty()) throw Error("no complete checkpoint in " + out.string() + " to resume from", "run without --resume to start afresh");
    const stdfs::path ck = cks.back().second;
    const json s = json::parse(fs::read_file(ck / "trainer_state.json"));
    st.step = s.at("step").get<int>();
    st.updates = s.at("updates").get<int>();
    st.epoch = s.at("epoch").get<int>();
    st.cursor = s.at("cursor").get<size_t>();
    st.order = s.at("data_order").get<std::vector<int64_t>>();
    st.rng = s.at("rng_state").get<std::string>();
    st.num_tokens = s.at("num_tokens").get<double>();
    set_rng_state(data_rng, st.rng);
    opt.load((ck / "trainer_tensors.safetensors").string());
    keep_metrics_until(out, st.step, csv_header(names), [&](const json& r) { return csv_row(r, names); });
    spdlog::info("grpo: resumed from {} (step {}/{})", ck.string(), st.step, cfg.max_steps);
  } else {
    keep_metrics_until(out, 0, csv_header(names), [&](const json& r) { return csv_row(r, names); });
    st.order = epoch_order(data_rng, tasks.size(), true);
    st.rng = rng_state(data_rng);
  }
  auto save_checkpoint = [&]() {
    write_checkpoint(out, st.step, cfg.keep_last, [&](const stdfs::path& tmp) {
      opt.save((tmp / "trainer_tensors.safetensors").string());
      lora->save_peft(tmp.string(), cfg.model);
      const json s{{"step", st.step},     {"updates", st.updates}, {"epoch", st.epoch},
                   {"cursor", st.cursor}, {"data_order", st.order}, {"rng_state", st.rng},
                   {"num_tokens", st.num_tokens}, {"total_updates", total_updates}, {"warmup_updates", warmup}};
      fs::atomic_write(tmp / "trainer_state.json", s.dump(2) + "\n");
    });
  };

  spdlog::info("grpo: {} steps of {} prompts x {} completions, {} updates each ({} in all, warm-up {}); reward {}; "
               "loss {} beta {} epsilon {}; {} tasks; LoRA {} parameters",
               cfg.max_steps, cfg.prompts_per_step, cfg.num_generations, cfg.num_iterations, total_updates, warmup,
               cfg.reward.describe(), cfg.loss_type, cfg.beta, cfg.epsilon, tasks.size(), lora->parameter_count());

  std::map<std::string, std::shared_ptr<Reference>> references;  // by task id, for the run
  GrpoResult res;
  res.total_steps = cfg.max_steps;
  const auto t_run = Clock::now();
  int steps_here = 0;
  while (st.step < cfg.max_steps) {
    const auto t_step = Clock::now();
    GrpoStepLog log;

    // 1. This step's prompts (the epoch order, reshuffled when it runs out).
    std::vector<size_t> step_tasks;
    for (int j = 0; j < cfg.prompts_per_step; ++j) {
      if (st.cursor >= st.order.size()) {
        ++st.epoch;
        st.order = epoch_order(data_rng, tasks.size(), true);
        st.rng = rng_state(data_rng);
        st.cursor = 0;
      }
      step_tasks.push_back(static_cast<size_t>(st.order[st.cursor++]));
    }
    std::vector<std::vector<int32_t>> prompts;
    std::vector<Completion> comps;
    for (size_t ti : step_tasks) {
      std::vector<int32_t> p = tok.encode(sft_texts(lm->chat_template(), system, user_t, tasks[ti]).first, true, true);
      if (static_cast<int>(p.size()) > cfg.max_prompt_length)
        p.erase(p.begin(), p.end() - cfg.max_prompt_length);  // TRL keeps the end of a long prompt
      for (int g = 0; g < cfg.num_generations; ++g) {
        prompts.push_back(p);
        Completion c;
        c.task = ti;
        c.prompt = p;
        comps.push_back(std::move(c));
      }
    }

    // 2. Generation: G completions per prompt in one batch, with the sampler's log-probs.
    const auto t_gen = Clock::now();
    llm::GenerateOptions go;
    go.max_new_tokens = cfg.max_completion_length;
    go.temperature = cfg.temperature;
    go.top_p = cfg.top_p;
    go.min_p = cfg.min_p;
    go.top_k = cfg.top_k;
    go.seed = cfg.seed * 1000003ULL + static_cast<uint64_t>(st.step);
    const std::vector<llm::Generation> gens = llm::generate(model, tok, prompts, go);
    const double gen_s = seconds_since(t_gen);
    int64_t gen_tokens = 0;
    for (size_t i = 0; i < comps.size(); ++i) {
      comps[i].tokens = gens[i].tokens;
      comps[i].old_logp = gens[i].logprobs;
      comps[i].terminated = gens[i].finish_reason != "length";
      comps[i].code = data::extract_code(gens[i].text);
      gen_tokens += static_cast<int64_t>(gens[i].tokens.size());
    }

    // 3. Renders: references once per run (render cache, frames kept), then every completion's code.
    const auto t_render = Clock::now();
    std::map<std::string, std::shared_future<render::RenderResult>> ref_jobs;
    for (size_t ti : step_tasks)
      if (!references.count(tasks[ti].id) && !ref_jobs.count(tasks[ti].id))
        ref_jobs[tasks[ti].id] = pool.submit(render::RenderJob{tasks[ti].code, "", tasks[ti].id + "-ref"}).share();
    for (size_t i = 0; i < comps.size(); ++i)
      if (!comps[i].code.empty())
        comps[i].render = pool.submit(render::RenderJob{comps[i].code, "", tasks[comps[i].task].id + "-gen" + std::to_string(i)}).share();

    // 4a. Code metrics while the renders run.
    const auto t_code = Clock::now();
    for (auto& c : comps) {
      c.in.has_code = !c.code.empty();
      if (!c.in.has_code) continue;
      const reward::CodeScore cs = reward::code_score(tasks[c.task].code, c.code, cosine);
      c.in.code_metrics["CodeBLEU"] = cs.codebleu.codebleu;
      if (cs.cbb) c.in.code_metrics["CBB"] = *cs.cbb;
    }
    double metrics_s = seconds_since(t_code);
    for (auto& [id, job] : ref_jobs) job.wait();
    for (auto& c : comps)
      if (c.render.valid()) c.render.wait();
    const double render_s = seconds_since(t_render);

    // 4b. Visual metrics and the reward.
    const auto t_vis = Clock::now();
    video::SampleOptions so;
    so.gray = true;
    so.rgb = true;
    for (auto& [id, job] : ref_jobs) {
      auto ref = std::make_shared<Reference>();
      const render::RenderResult& r = job.get();
      ref->ok = r.success;
      ref->failure = std::string(render::to_string(r.failure));
      if (r.success) {
        try {
          ref->frames = video::load_frames(r.output, so);
        } catch (const Error& e) {
          ref->ok = false;
          ref->failure = std::string("decode: ") + e.what();
        }
      }
      if (!ref->ok) spdlog::warn("grpo: the reference of {} did not render ({}): its completions get no visual reward", id, ref->failure);
      references[id] = ref;
    }
    int rendered = 0, no_code = 0, ref_ok = 0;
    for (auto& c : comps) {
      const Reference& ref = *references.at(tasks[c.task].id);
      ref_ok += ref.ok;
      if (!c.in.has_code) {
        c.failure = "no_code";
        ++no_code;
      } else {
        const render::RenderResult& r = c.render.get();
        if (!r.success) {
          c.failure = std::string(render::to_string(r.failure));
        } else {
          ++rendered;
          if (ref.ok) {
            try {
              const reward::VisualScores v = reward::score_frames(ref.frames, video::load_frames(r.output, so), vo);
              c.in.visual_metrics = v.metrics;
              c.in.rendered = true;
            } catch (const Error& e) {
              c.failure = "decode";
              spdlog::warn("grpo: cannot score a completion's video: {}", e.what());
            }
          }
        }
      }
      if (!c.failure.empty()) ++log.failures[c.failure];
      c.reward = reward::compose(cfg.reward, c.in);
    }
    metrics_s += seconds_since(t_vis);

    // 5. Advantages per group of G.
    std::vector<double> rewards;
    for (const auto& c : comps) rewards.push_back(c.reward.reward);
    const GrpoAdvantages adv = grpo_advantages(rewards, cfg.num_generations, scale);

    // 6. The updates: mu passes over the batch, each one optimizer step.
    const auto t_upd = Clock::now();
    const int64_t B = static_cast<int64_t>(comps.size());
    int64_t T = 0;
    for (const auto& c : comps) T = std::max<int64_t>(T, static_cast<int64_t>(c.tokens.size()));
    std::vector<at::Tensor> old_rows, mask_rows;
    std::vector<std::vector<int32_t>> comp_tokens;
    for (const auto& c : comps) {
      old_rows.push_back(at::tensor(c.old_logp, at::kFloat));
      mask_rows.push_back(at::ones({static_cast<int64_t>(c.tokens.size())}, at::kFloat));
      comp_tokens.push_back(c.tokens);
    }
    GrpoLossInputs in;
    in.old_logp = pad_rows(old_rows, T);
    in.mask = pad_rows(mask_rows, T);
    if (cfg.mask_truncated_completions) in.mask = mask_truncated(in.mask, truncated_completions(comp_tokens, eog, std::nullopt));
    in.advantages = at::tensor(std::vector<float>(adv.advantages.begin(), adv.advantages.end()), at::kFloat);
    if (lcfg.loss_type == GrpoLossType::dapo) in.num_items_in_batch = in.mask.sum().item<double>();
    if (cfg.beta > 0) {  // the reference policy: the base, adapter switched off
      at::NoGradGuard ng;
      model.set_adapter(nullptr);
      std::vector<at::Tensor> ref_rows;
      for (const auto& c : comps) ref_rows.push_back(completion_logps(model, c, cfg.temperature, nullptr));
      model.set_adapter(lora);
      in.ref_logp = pad_rows(ref_rows, T);
    }
    std::vector<at::Tensor> before;
    for (const auto& p : opt.params) before.push_back(p.detach().clone());
    double loss_sum = 0, grad_norm_sum = 0, lr_last = 0;
    std::map<std::string, double> loss_metrics;
    double low_min = std::numeric_limits<double>::infinity(), high_max = 0;
    const double active_total = in.mask.sum().item<double>();
    for (int k = 0; k < cfg.num_iterations; ++k) {
      // One sequence's graph at a time: its part of the batch loss, backward, then the next.
      opt.zero_grad();
      std::vector<at::Tensor> logp_rows, ent_rows;
      for (int64_t i = 0; i < B; ++i) {
        const Completion& c = comps[static_cast<size_t>(i)];
        const int64_t L = static_cast<int64_t>(c.tokens.size());
        at::Tensor ent;
        const at::Tensor logp = completion_logps(model, c, cfg.temperature, &ent);
        GrpoLossInputs one;
        one.logp = logp.view({1, L});
        one.old_logp = in.old_logp.narrow(0, i, 1).narrow(1, 0, L);
        if (in.ref_logp.defined()) one.ref_logp = in.ref_logp.narrow(0, i, 1).narrow(1, 0, L);
        one.mask = in.mask.narrow(0, i, 1).narrow(1, 0, L);
        one.advantages = in.advantages.narrow(0, i, 1);
        one.num_items_in_batch = in.num_items_in_batch;
        const double active = one.mask.sum().item<double>();
        (grpo_loss(lcfg, one).loss * grpo_sequence_share(lcfg.loss_type, B, active, active_total)).backward();
        logp_rows.push_back(logp.detach());
        ent_rows.push_back(ent);
      }
      in.logp = pad_rows(logp_rows, T);
      in.entropies = pad_rows(ent_rows, T);
      if (k == 0) {  // the policy is the sampler's: old == new up to numerics
        const at::Tensor d = ((in.logp - in.old_logp).abs() * in.mask);
        log.first_update_max_logp_diff = d.max().item<double>();
        log.first_update_mean_logp_diff = d.sum().item<double>() / std::max(1.0, active_total);
      }
      // The batch's loss value and TRL's metrics, from the whole batch (no graph).
      const GrpoLossOutput lo = [&] {
        at::NoGradGuard ng;
        return grpo_loss(lcfg, in);
      }();
      grad_norm_sum += opt.clip_grad_norm(cfg.max_grad_norm);
      lr_last = cfg.lr * lr_lambda(st.updates, total_updates, warmup);
      opt.step(lr_last, st.updates + 1, adam);
      ++st.updates;
      loss_sum += lo.loss.item<double>();
      for (const auto& [name, v] : grpo_metrics_named(lo.metrics)) loss_metrics[name] += v / cfg.num_iterations;
      low_min = std::min(low_min, lo.metrics.clip_low_min);
      high_max = std::max(high_max, lo.metrics.clip_high_max);
    }
    loss_metrics["clip_ratio/low_min"] = low_min;
    loss_metrics["clip_ratio/high_max"] = high_max;
    {
      at::NoGradGuard ng;
      double d2 = 0;
      for (size_t i = 0; i < before.size(); ++i) d2 += (opt.params[i] - before[i]).pow(2).sum().item<double>();
      log.lora_delta_norm = std::sqrt(d2);
    }
    const double update_s = seconds_since(t_upd);
    ++st.step;

    // The step's metrics, TRL's names first.
    auto& m = log.metrics;
    int64_t prompt_tokens = 0;
    std::vector<double> lengths, term_lengths;
    for (const auto& c : comps) {
      prompt_tokens += static_cast<int64_t>(c.prompt.size());
      lengths.push_back(static_cast<double>(c.tokens.size()));
      if (c.terminated) term_lengths.push_back(static_cast<double>(c.tokens.size()));
    }
    st.num_tokens += static_cast<double>(prompt_tokens + gen_tokens);
    m["step"] = st.step;
    m["epoch"] = st.epoch + static_cast<double>(st.cursor) / static_cast<double>(tasks.size());
    m["loss"] = loss_sum / cfg.num_iterations;
    m["grad_norm"] = grad_norm_sum / cfg.num_iterations;
    m["learning_rate"] = lr_last;
    m["num_tokens"] = st.num_tokens;
    m["reward"] = adv.reward;
    m["reward_std"] = adv.reward_std;
    m["frac_reward_zero_std"] = adv.frac_reward_zero_std;
    for (const std::string& t : {cfg.reward.code_term, cfg.reward.visual_term}) {
      if (t == "none") continue;
      std::vector<double> v;
      for (const auto& c : comps) v.push_back(t == cfg.reward.code_term ? c.reward.code : c.reward.visual);
      m["rewards/" + t + "/mean"] = mean_of(v);
      m["rewards/" + t + "/std"] = std_of(v);
    }
    for (const auto& [k, v] : loss_metrics) m[k] = v;
    m["completions/mean_length"] = mean_of(lengths);
    m["completions/min_length"] = *std::min_element(lengths.begin(), lengths.end());
    m["completions/max_length"] = *std::max_element(lengths.begin(), lengths.end());
    m["completions/clipped_ratio"] = 1.0 - static_cast<double>(term_lengths.size()) / static_cast<double>(lengths.size());
    // TRL logs 0 for the terminated lengths when no completion terminated.
    m["completions/mean_terminated_length"] = mean_of(term_lengths);
    m["completions/min_terminated_length"] = term_lengths.empty() ? 0.0 : *std::min_element(term_lengths.begin(), term_lengths.end());
    m["completions/max_terminated_length"] = term_lengths.empty() ? 0.0 : *std::max_element(term_lengths.begin(), term_lengths.end());
    m["render/success_rate"] = static_cast<double>(rendered) / static_cast<double>(B);
    m["render/no_code_rate"] = static_cast<double>(no_code) / static_cast<double>(B);
    m["render/ref_success_rate"] = static_cast<double>(ref_ok) / static_cast<double>(B);
    m["sampler/max_logp_diff"] = log.first_update_max_logp_diff;
    m["sampler/mean_logp_diff"] = log.first_update_mean_logp_diff;
    m["time/generation"] = gen_s;
    m["time/render"] = render_s;
    m["time/metrics"] = metrics_s;
    m["time/update"] = update_s;
    m["time/step"] = seconds_since(t_step);
    m["tokens_per_s"] = static_cast<double>(gen_tokens) / gen_s;
    m["rss_mb"] = rss_mb();
    m["peak_rss_mb"] = peak_rss_mb();
    log.step = st.step;
    json row = json::object();
    for (const auto& n : names)
      row[n] = m.count(n) && std::isfinite(m.at(n)) ? json(m.at(n)) : json();
    row["render_failures"] = log.failures;
    fs::append_line(out / "metrics.jsonl", row.dump());
    fs::append_line(out / "metrics.csv", csv_row(row, names));
    std::string fails;
    for (const auto& [k, v] : log.failures) fails += (fails.empty() ? "" : " ") + k + ":" + std::to_string(v);
    ++steps_here;
    spdlog::info("grpo step {}/{} reward {:.4f} (std {:.4f}) kl {:.5f} entropy {:.3f} clip {:.3f} len {:.0f} clipped {:.2f} "
                 "rendered {}/{}{} | gen {:.1f}s ({:.1f} tok/s) render {:.1f}s metrics {:.1f}s update {:.1f}s | rss {:.0f} MB ETA {}",
                 st.step, cfg.max_steps, adv.reward, adv.reward_std, m.count("kl") ? m["kl"] : 0.0,
                 m.count("entropy") ? m["entropy"] : 0.0, m["clip_ratio/region_mean"], m["completions/mean_length"],
                 m["completions/clipped_ratio"], rendered, B, fails.empty() ? "" : " (" + fails + ")", gen_s,
                 m["tokens_per_s"], render_s, metrics_s, update_s, m["rss_mb"],
                 format_duration(seconds_since(t_run) / steps_here * (cfg.max_steps - st.step)));
    res.history.push_back(std::move(log));
    res.steps = st.step;
    if (run.crash_after_step > 0 && st.step == run.crash_after_step) {
      res.crashed = true;
      res.wall_s = seconds_since(t_run);
      return res;
    }
    if (st.step == cfg.max_steps || (cfg.save_every > 0 && st.step % cfg.save_every == 0)) save_checkpoint();
  }
  res.wall_s = seconds_since(t_run);
  lora->save_peft((out / "adapter").string(), cfg.model);
  lora->save_gguf((out / "adapter.gguf").string());
  return res;
}

}  // namespace mtk::train
