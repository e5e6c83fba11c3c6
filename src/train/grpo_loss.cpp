// The GRPO objective of TRL's GRPOTrainer (see include/mtk/train/grpo_loss.hpp).
#include "mtk/train/grpo_loss.hpp"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "mtk/core/error.hpp"
#include "mtk/train/grpo_loss_torch.hpp"

namespace mtk::train {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Parses one of a fixed set of names; the error lists them.
template <class E, size_t N>
E parse_name(const std::string& s, const char* key, const std::pair<const char*, E> (&names)[N]) {
  std::string valid;
  for (const auto& [name, value] : names) {
    if (s == name) return value;
    valid += (valid.empty() ? "" : ", ") + std::string(name);
  }
  throw Error(std::string(key) + " '" + s + "' is not known", "use one of " + valid);
}

template <class E, size_t N>
std::string name_of(E e, const std::pair<const char*, E> (&names)[N]) {
  for (const auto& [name, value] : names)
    if (value == e) return name;
  return "?";
}

const std::pair<const char*, GrpoLossType> kLossTypes[] = {
    {"grpo", GrpoLossType::grpo}, {"bnpo", GrpoLossType::bnpo}, {"dr_grpo", GrpoLossType::dr_grpo},
    {"dapo", GrpoLossType::dapo}};
const std::pair<const char*, ScaleRewards> kScales[] = {
    {"group", ScaleRewards::group}, {"batch", ScaleRewards::batch}, {"none", ScaleRewards::none}};
const std::pair<const char*, ImportanceSamplingLevel> kLevels[] = {
    {"token", ImportanceSamplingLevel::token}, {"sequence", ImportanceSamplingLevel::sequence}};

// Mean and unbiased std of the non-NaN values of x[begin, end), as TRL's nanmean / nanstd: the mean
// is NaN without values, the std NaN with fewer than two.
struct MeanStd {
  double mean = kNaN, std = kNaN;
  bool all_equal = true;  // every non-NaN value the same
};
MeanStd nan_mean_std(const std::vector<double>& x, size_t begin, size_t end) {
  MeanStd r;
  double sum = 0;
  size_t n = 0;
  for (size_t i = begin; i < end; ++i) {
    if (std::isnan(x[i])) continue;
    sum += x[i];
    ++n;
  }
  if (n == 0) return r;
  r.mean = sum / double(n);
  double ss = 0;
  double first = kNaN;
  for (size_t i = begin; i < end; ++i) {
    if (std::isnan(x[i])) continue;
    if (std::isnan(first)) first = x[i];
    if (x[i] != first) r.all_equal = false;
    ss += (x[i] - r.mean) * (x[i] - r.mean);
  }
  if (n > 1) r.std = std::sqrt(ss / double(n - 1));
  return r;
}

}  // namespace

GrpoLossType parse_grpo_loss_type(const std::string& s) { return parse_name(s, "loss_type", kLossTypes); }
ScaleRewards parse_scale_rewards(const std::string& s) { return parse_name(s, "scale_rewards", kScales); }
ImportanceSamplingLevel parse_importance_sampling_level(const std::string& s) {
  return parse_name(s, "importance_sampling_level", kLevels);
}
std::string to_string(GrpoLossType t) { return name_of(t, kLossTypes); }
std::string to_string(ScaleRewards s) { return name_of(s, kScales); }
std::string to_string(ImportanceSamplingLevel l) { return name_of(l, kLevels); }

void validate(const GrpoLossConfig& c) {
  if (!(c.epsilon_low >= 0 && c.epsilon_low < 1))
    throw Error("epsilon " + std::to_string(c.epsilon_low) + " is out of range", "use 0 <= epsilon < 1 (e.g. 0.2)");
  if (!(c.epsilon_high >= 0))
    throw Error("epsilon_high " + std::to_string(c.epsilon_high) + " is negative", "use epsilon_high >= 0 (e.g. 0.28)");
  if (c.delta && !(*c.delta > 1))
    throw Error("delta " + std::to_string(*c.delta) + " caps the ratio below 1",
                "use delta > 1 + epsilon_high (INTELLECT-2 uses 4), or leave it unset");
  if (!(c.beta >= 0)) throw Error("beta " + std::to_string(c.beta) + " is negative", "use beta >= 0 (0: no KL term)");
  if (c.max_completion_length <= 0)
    throw Error("max_completion_length must be positive", "set it to the generation limit in tokens");
  if (c.grad_accum_steps <= 0) throw Error("grad_accum_steps must be positive", "use 1 without accumulation");
}

std::vector<std::pair<std::string, double>> grpo_metrics_named(const GrpoMetrics& m) {
  std::vector<std::pair<std::string, double>> out;
  if (m.kl) out.emplace_back("kl", *m.kl);
  if (m.entropy) out.emplace_back("entropy", *m.entropy);
  out.emplace_back("clip_ratio/low_mean", m.clip_low_mean);
  out.emplace_back("clip_ratio/low_min", m.clip_low_min);
  out.emplace_back("clip_ratio/high_mean", m.clip_high_mean);
  out.emplace_back("clip_ratio/high_max", m.clip_high_max);
  out.emplace_back("clip_ratio/region_mean", m.clip_region_mean);
  return out;
}

GrpoAdvantages grpo_advantages(const std::vector<double>& rewards, int num_generations, ScaleRewards scale) {
  if (num_generations < 1 || rewards.size() % size_t(num_generations) != 0)
    throw Error(std::to_string(rewards.size()) + " rewards do not form groups of " + std::to_string(num_generations),
                "pass num_generations completions for every prompt, consecutively");
  const size_t n = rewards.size(), g = size_t(num_generations);
  GrpoAdvantages out;
  out.advantages.assign(n, 0.0);
  const MeanStd batch = nan_mean_std(rewards, 0, n);
  out.reward = batch.mean;
  out.reward_std = batch.std;
  size_t zero_std = 0;
  for (size_t b = 0; b < n; b += g) {
    const MeanStd group = nan_mean_std(rewards, b, b + g);
    // TRL: group std for "group" and "none" (for "none" only to count zero-std groups), batch std
    // for "batch"; a single generation per prompt has std 0.
    const double sd = scale == ScaleRewards::batch ? (n > 1 ? batch.std : 0.0) : (g > 1 ? group.std : 0.0);
    for (size_t i = b; i < b + g; ++i) {
      if (std::fabs(sd) <= 1e-8) ++zero_std;  // torch.isclose(std, 0): NaN is not close
      double a = rewards[i] - group.mean;
      if (scale != ScaleRewards::none) a /= sd + 1e-4;
      if (group.all_equal || std::isnan(a)) a = 0.0;
      out.advantages[i] = a;
    }
  }
  out.frac_reward_zero_std = n ? double(zero_std) / double(n) : 0.0;
  return out;
}

std::vector<bool> truncated_completions(const std::vector<std::vector<int32_t>>& completions,
                                        const std::vector<int32_t>& eos_ids, std::optional<int32_t> pad_id) {
  std::vector<bool> out;
  out.reserve(completions.size());
  for (const auto& c : completions) {
    bool ended = !c.empty() && (std::find(eos_ids.begin(), eos_ids.end(), c.back()) != eos_ids.end() ||
                                (pad_id && c.back() == *pad_id));
    out.push_back(!ended);
  }
  return out;
}

at::Tensor mask_truncated(const at::Tensor& mask, const std::vector<bool>& truncated) {
  if (mask.dim() != 2 || mask.size(0) != int64_t(truncated.size()))
    throw Error("mask_truncated: the mask has " + std::to_string(mask.dim() ? mask.size(0) : 0) + " rows for " +
                    std::to_string(truncated.size()) + " completions",
                "pass one flag per completion row");
  std::vector<float> keep(truncated.size());
  for (size_t i = 0; i < truncated.size(); ++i) keep[i] = truncated[i] ? 0.f : 1.f;
  at::Tensor k = at::tensor(keep).to(mask.device()).unsqueeze(1);
  return (mask.to(at::kFloat) * k).to(mask.scalar_type());
}

GrpoLossOutput grpo_loss(const GrpoLossConfig& cfg, const GrpoLossInputs& in) {
  validate(cfg);
  if (!in.logp.defined() || in.logp.dim() != 2)
    throw Error("grpo_loss: logp must be a [batch, tokens] tensor", "pass the per-token log-probs of the completions");
  const int64_t B = in.logp.size(0), T = in.logp.size(1);
  const auto same_shape = [&](const at::Tensor& t, const char* name) {
    if (t.defined() && (t.dim() != 2 || t.size(0) != B || t.size(1) != T))
      throw Error(std::string("grpo_loss: ") + name + " has another shape than logp", "pad every tensor to [batch, tokens]");
  };
  same_shape(in.old_logp, "old_logp");
  same_shape(in.ref_logp, "ref_logp");
  same_shape(in.mask, "mask");
  same_shape(in.entropies, "entropies");
  if (!in.mask.defined()) throw Error("grpo_loss: no completion mask", "pass the [batch, tokens] completion mask");
  if (!in.advantages.defined() || in.advantages.numel() != B)
    throw Error("grpo_loss: advantages must hold one value per completion", "pass grpo_advantages(...) as a [batch] tensor");
  if (cfg.beta != 0 && !in.ref_logp.defined())
    throw Error("grpo_loss: beta > 0 needs the reference log-probs", "pass ref_logp, or set beta to 0");
  if (cfg.loss_type == GrpoLossType::dapo && in.num_items_in_batch < 0)
    throw Error("grpo_loss: loss_type dapo needs num_items_in_batch",
                "pass the active-token count of the whole accumulated batch");

  const auto dt = in.logp.scalar_type();
  const at::Tensor& logp = in.logp;
  const at::Tensor mask = in.mask.to(dt);
  const at::Tensor adv = in.advantages.to(dt).reshape({B, 1});
  const at::Tensor old = in.old_logp.defined() ? in.old_logp.to(dt) : logp.detach();
  const bool token_level = cfg.importance_sampling_level == ImportanceSamplingLevel::token;

  // Importance ratio, per token or (GSPO) per sequence from the masked mean log-ratio.
  const at::Tensor log_ratio = logp - old;
  const at::Tensor log_weights =
      token_level ? log_ratio : ((log_ratio * mask).sum(-1) / mask.sum(-1).clamp_min(1.0)).unsqueeze(-1);
  at::Tensor coef1 = at::exp(log_weights);

  at::Tensor kl;
  if (cfg.beta != 0) {
    const at::Tensor d = in.ref_logp.to(dt) - logp;
    kl = at::exp(d) - d - 1;
    if (cfg.use_bias_correction_kl) kl = kl * coef1;
  }

  const at::Tensor coef2 = at::clamp(coef1, 1 - cfg.epsilon_low, 1 + cfg.epsilon_high);
  if (cfg.delta) coef1 = at::clamp_max(coef1, *cfg.delta);
  at::Tensor per_token = -at::min(coef1 * adv, coef2 * adv);
  if (cfg.beta != 0) per_token = per_token + cfg.beta * kl;

  const at::Tensor masked_sum = (per_token * mask).sum();
  at::Tensor loss;
  switch (cfg.loss_type) {
    case GrpoLossType::grpo:
      loss = ((per_token * mask).sum(-1) / mask.sum(-1).clamp_min(1.0)).mean() / double(cfg.grad_accum_steps);
      break;
    case GrpoLossType::bnpo:
      loss = masked_sum / mask.sum().clamp_min(1.0) / double(cfg.grad_accum_steps);
      break;
    case GrpoLossType::dr_grpo:
      loss = masked_sum / double(B * int64_t(cfg.max_completion_length)) / double(cfg.grad_accum_steps);
      break;
    case GrpoLossType::dapo:
      loss = masked_sum / std::max(1.0, in.num_items_in_batch);
      break;
  }

  GrpoLossOutput out;
  out.loss = loss;
  out.per_token_loss = per_token.expand({B, T});

  // Metrics (TRL's global_masked_mean and masked_seq_mean on one process). As in TRL, a tensor with
  // one column is taken for one value per sequence (sequence-level ratios).
  at::NoGradGuard no_grad;
  const auto masked_mean = [&](const at::Tensor& x) {
    if (x.size(1) == 1) return x.sum().item<double>() / double(std::max<int64_t>(B, 1));
    return (x * mask).sum().item<double>() / std::max(1.0, mask.sum().item<double>());
  };
  const auto seq_means = [&](const at::Tensor& x) {
    return x.size(1) == 1 ? x.squeeze(1) : (x * mask).sum(-1) / mask.sum(-1);
  };
  const auto nan_extreme = [](const at::Tensor& v, bool max) {
    const at::Tensor ok = v.masked_select(~at::isnan(v));
    if (ok.numel() == 0) return kNaN;
    return (max ? ok.max() : ok.min()).item<double>();
  };
  if (cfg.beta != 0) out.metrics.kl = masked_mean(kl.detach());
  if (in.entropies.defined()) out.metrics.entropy = masked_mean(in.entropies.to(dt));
  const at::Tensor c1 = coef1.detach();
  const at::Tensor low = at::logical_and(c1 < 1 - cfg.epsilon_low, adv < 0).to(dt);
  const at::Tensor high = at::logical_and(c1 > 1 + cfg.epsilon_high, adv > 0).to(dt);
  const at::Tensor region = at::logical_or(low, high).to(dt);
  out.metrics.clip_low_mean = masked_mean(low);
  out.metrics.clip_high_mean = masked_mean(high);
  out.metrics.clip_region_mean = masked_mean(region);
  out.metrics.clip_low_min = nan_extreme(seq_means(low), false);
  out.metrics.clip_high_max = nan_extreme(seq_means(high), true);
  return out;
}

}  // namespace mtk::train
