#pragma once
// The GRPO objective as TRL's GRPOTrainer computes it (trl 1.16.0, trl/trainer/grpo_trainer.py:
// advantages in _generate_and_score_completions, the loss and its metrics in _compute_loss), for
// the loss types grpo, bnpo, dr_grpo and dapo. The paper trains with loss_type dr_grpo, token-level
// importance sampling, beta 0.005, epsilon 0.2 (../shared/DESIGN.md "Fidelity").
//
// Notation (per completion i of a generation batch, token t): logp = log pi_theta(o_t | ...), the
// policy being trained; old = the same at generation time (none: logp detached, ratio exactly 1,
// TRL's path when num_iterations is 1); ref = the reference policy (only when beta > 0); m the
// completion mask; A_i the advantage of the completion.
//
//   ratio   r = exp(logp - old)                          (importance_sampling_level "token")
//           r_i = exp(sum_t m (logp - old) / max(1, sum_t m))   ("sequence", GSPO; one per sequence)
//   clipped c = clamp(r, 1 - epsilon_low, 1 + epsilon_high)
//   capped  r = min(r, delta) when delta is set (INTELLECT-2's two-sided clipping; after c is taken)
//   kl      = exp(ref - logp) - (ref - logp) - 1         (k3), times r when use_bias_correction_kl
//   l_t     = -min(r A, c A) + beta kl
//
// and the loss aggregates m l_t by loss_type (see GrpoLossType). This header is free of libtorch;
// the tensor entry point is grpo_loss() in grpo_loss_torch.hpp.
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace mtk::train {

// TRL `loss_type`: how the masked per-token losses l_t become one number.
//   grpo    : per sequence sum_t m l_t / max(1, sum_t m), then the mean over sequences (length bias).
//   bnpo    : sum over the local batch of m l_t / max(1, active tokens of the local batch).
//   dr_grpo : sum of m l_t / (batch size * max_completion_length), a constant (Dr. GRPO).
//   dapo    : sum of m l_t / max(1, active tokens of the whole accumulated batch), a count the caller
//             passes (GrpoLossInputs::num_items_in_batch in grpo_loss_torch.hpp). TRL's default.
// grpo, bnpo and dr_grpo are divided once more by grad_accum_steps (TRL divides by
// current_gradient_accumulation_steps); dapo's count already spans the accumulation window.
enum class GrpoLossType { grpo, bnpo, dr_grpo, dapo };

// TRL `scale_rewards`: what divides R - mean_group(R) (see grpo_advantages).
enum class ScaleRewards { group, batch, none };

// TRL `importance_sampling_level`: one ratio per token, or one per sequence (GSPO).
enum class ImportanceSamplingLevel { token, sequence };

// Names as TRL spells them; parse_* throw mtk::Error naming the valid values.
GrpoLossType parse_grpo_loss_type(const std::string& s);
ScaleRewards parse_scale_rewards(const std::string& s);
ImportanceSamplingLevel parse_importance_sampling_level(const std::string& s);
std::string to_string(GrpoLossType t);
std::string to_string(ScaleRewards s);
std::string to_string(ImportanceSamplingLevel l);

// The options of GRPOConfig that shape the loss. Defaults are TRL 1.16.0's; the paper's run sets
// loss_type dr_grpo and beta 0.005 (the GRPO recipe's config does that, not this struct).
struct GrpoLossConfig {
  GrpoLossType loss_type = GrpoLossType::dapo;  // TRL `loss_type`
  ImportanceSamplingLevel importance_sampling_level = ImportanceSamplingLevel::token;  // TRL `importance_sampling_level`
  double epsilon_low = 0.2;   // TRL `epsilon`
  double epsilon_high = 0.2;  // TRL `epsilon_high` (TRL: defaults to `epsilon`; DAPO recommends 0.28)
  std::optional<double> delta;  // TRL `delta`: cap of the unclipped ratio (INTELLECT-2); unset: none
  double beta = 0.0;            // TRL `beta`: weight of the k3 KL to the reference; 0: no reference
  // TRL `use_bias_correction_kl` (default true since DeepSeek-V3.2): the KL term times the ratio r.
  // It changes the gradient even on-policy (r == 1 in value but not in derivative).
  bool use_bias_correction_kl = true;
  int max_completion_length = 512;  // TRL `max_completion_length`; the dr_grpo denominator
  int grad_accum_steps = 1;         // TRL `current_gradient_accumulation_steps` (grpo, bnpo, dr_grpo)
};

// Checks a configuration (epsilons >= 0, epsilon_low < 1, delta > 1, beta >= 0,
// max_completion_length > 0, grad_accum_steps > 0); throws mtk::Error naming the key.
void validate(const GrpoLossConfig& c);

// The metrics TRL logs from _compute_loss, under TRL's names (grpo_metrics_named), computed as TRL
// does on one process:
//   kl                    mean of kl over active tokens (only when beta > 0)
//   entropy               mean of the given per-token entropies over active tokens (when given)
//   clip_ratio/low_mean   share of active tokens with r < 1 - epsilon_low and A < 0
//   clip_ratio/high_mean  share of active tokens with r > 1 + epsilon_high and A > 0
//   clip_ratio/region_mean  share with either
//   clip_ratio/low_min    smallest per-sequence share of low-clipped tokens (sequences with no
//                         active token skipped; NaN when none is left)
//   clip_ratio/high_max   largest per-sequence share of high-clipped tokens (likewise)
// r is the ratio after the delta cap. At the sequence level the shares are over sequences (every
// sequence counts, masked or not), as in TRL.
struct GrpoMetrics {
  std::optional<double> kl;
  std::optional<double> entropy;
  double clip_low_mean = 0, clip_high_mean = 0, clip_region_mean = 0;
  double clip_low_min = 0, clip_high_max = 0;
};
std::vector<std::pair<std::string, double>> grpo_metrics_named(const GrpoMetrics& m);

// Advantages and reward statistics of one generation batch (TRL _generate_and_score_completions,
// multi_objective_aggregation "sum_then_normalize" with one reward).
struct GrpoAdvantages {
  std::vector<double> advantages;  // one per completion
  double reward = 0;               // TRL `reward`: mean reward (NaN rewards left out)
  double reward_std = 0;           // TRL `reward_std`: unbiased std of the batch's rewards
  double frac_reward_zero_std = 0; // TRL `frac_reward_zero_std`: share of completions whose std is 0
};

// rewards: one per completion, in groups of num_generations consecutive completions of the same
// prompt (TRL's layout). A = R - mean_group(R), then for scale_rewards group divided by
// (std_group(R) + 1e-4), for batch by (std_batch(R) + 1e-4), for none left as is; std is the
// unbiased (Bessel-corrected) std as TRL's nanstd. NaN marks an unscorable completion (every reward
// function returned None in TRL): it is left out of the mean and std and its advantage is 0; so is
// the advantage of a completion whose std is undefined (a single scorable value).
// A group whose rewards are all equal gets advantage exactly 0 (TRL gets R - mean, which is 0 up to
// rounding). Throws mtk::Error when num_generations < 1 or does not divide the number of rewards.
GrpoAdvantages grpo_advantages(const std::vector<double>& rewards, int num_generations, ScaleRewards scale);

// TRL `mask_truncated_completions`: a completion is truncated when its last token is neither an
// end-of-generation token nor the pad token (an empty completion counts as truncated). Returns one
// flag per completion; the caller zeroes the completion mask of flagged rows (mask_truncated in
// grpo_loss_torch.hpp does that on a mask tensor).
std::vector<bool> truncated_completions(const std::vector<std::vector<int32_t>>& completions,
                                        const std::vector<int32_t>& eos_ids, std::optional<int32_t> pad_id);

}  // namespace mtk::train
