#pragma once
// The tensor side of the GRPO objective (grpo_loss.hpp has the maths and the options): for the
// trainer's .cpp files and the tests only.
#include <ATen/core/Tensor.h>

#include "mtk/train/grpo_loss.hpp"

namespace mtk::train {

// One micro-batch of B completions padded to T tokens. Floating tensors share logp's dtype.
struct GrpoLossInputs {
  at::Tensor logp;        // [B, T] per-token log-probs of the policy, requires grad
  at::Tensor old_logp;    // [B, T] at generation time (TRL old_per_token_logps); undefined: logp detached
  at::Tensor ref_logp;    // [B, T] of the reference (TRL ref_per_token_logps); needed when beta > 0
  at::Tensor mask;        // [B, T] completion mask, 1 active / 0 padding or masked (any dtype)
  at::Tensor advantages;  // [B] (or [B, 1])
  at::Tensor entropies;   // [B, T] per-token entropies, only for the `entropy` metric; may be undefined
  // dapo only: active tokens of the whole accumulated batch, i.e. TRL's
  // num_items_in_batch / num_processes * current_gradient_accumulation_steps / steps_per_generation
  // (one process without accumulation: the active tokens of this micro-batch). Clamped to >= 1 as
  // TRL does (a batch with every completion masked has loss 0); negative: not given.
  double num_items_in_batch = -1;
};

struct GrpoLossOutput {
  at::Tensor loss;            // scalar, differentiable in logp (TRL's returned loss)
  at::Tensor per_token_loss;  // [B, T] l_t before masking and aggregation
  GrpoMetrics metrics;
};

// TRL GRPOTrainer._compute_loss (loss types grpo, bnpo, dr_grpo, dapo; no entropy-quantile mask,
// off-policy mask, vLLM importance correction or entropy bonus). Throws mtk::Error on inputs of the
// wrong shape, on beta > 0 without ref_logp, and on dapo without num_items_in_batch.
GrpoLossOutput grpo_loss(const GrpoLossConfig& cfg, const GrpoLossInputs& in);

// TRL `mask_truncated_completions`: mask [B, T] with the rows flagged by truncated_completions set
// to 0 (same dtype).
at::Tensor mask_truncated(const at::Tensor& mask, const std::vector<bool>& truncated);

}  // namespace mtk::train
