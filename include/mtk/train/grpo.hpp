#pragma once
// GRPO of LoRA adapters on a frozen base, the paper's second stage (../shared/DESIGN.md
// "Fidelity"; TRL GRPOTrainer with the loss of grpo_loss.hpp).
//
// One step (one generation batch), top to bottom in run_grpo:
//   1. prompts: the next prompts_per_step train tasks of the epoch order (reshuffled each epoch
//      from the seed), each as the paper's chat (system prompt + <TEXT_SCRIPT> user turn, the
//      model's chat template with the generation prompt), cut to max_prompt_length tokens from
//      the left (TRL keeps the end of a long prompt);
//   2. generation: num_generations completions per prompt in one batched llm::generate call
//      (temperature, top_p, min_p, max_completion_length, the step's seed); the sampler records
//      each token's log-prob under log_softmax(logits / temperature): the old log-probs;
//   3. rendering: the code of each completion (data::extract_code; none: reward 0 and failure
//      class no_code) goes to a render::RenderPool as soon as the batch returns (generation is
//      one batched call: all sequences come back together); the reference renders once per run
//      through the render cache and its decoded frames stay in memory per task id;
//   4. reward: reward::code_score and reward::score_frames, then reward::compose with the
//      configured RewardSpec (checked with check_weights before step 1);
//   5. advantages: grpo_advantages over groups of num_generations (scale_rewards);
//   6. num_iterations (mu) optimizer updates on the batch: per-token log-probs of the policy
//      (adapter on, with gradient; one sequence's graph at a time: its share of the batch loss,
//      grpo_sequence_share, goes backward before the next sequence's forward, so memory does not
//      grow with the batch; the loss value and TRL's metrics come from the whole batch), the reference's (adapter off, no gradient; only when
//      beta > 0), grpo_loss, gradient clipping, AdamW (optimizer_torch.hpp) with the linear
//      schedule over max_steps * num_iterations updates. On the first update the policy equals
//      the sampler, so the ratio is 1 up to the numerics of generation vs training forward.
//
// `max_steps` counts generation batches (each with num_iterations optimizer updates; TRL counts
// the optimizer updates). Run folder <output_dir>: config.json, run_meta.json (git revision,
// libtorch and Manim versions, sha256 of the base model and the initial adapter:
// core/run_meta.hpp), metrics.jsonl and metrics.csv
// (one row per step under TRL's names, see grpo_metric_names), checkpoint-<step>/ (peft adapter,
// trainer_tensors.safetensors with the AdamW moments, trainer_state.json with step, RNG state and
// data order; written to a .partial folder renamed into place), and at the end adapter/ (peft)
// and adapter.gguf (llama.cpp).
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "mtk/llm/lora.hpp"
#include "mtk/reward/reward.hpp"
#include "mtk/train/grpo_loss.hpp"

namespace mtk::train {

struct GrpoConfig {
  std::string model = "smollm2";   // name, .gguf or Hugging Face directory
  std::string init_adapter;        // peft adapter directory to continue from (SFT's adapter/); "": a fresh LoRA
  std::string dataset = "manimbench";
  std::string split = "train";
  std::string output_dir = "runs/grpo";
  std::string system_prompt = "configs/prompts/paper/generate.system.txt";
  std::string user_template = "configs/prompts/paper/generate.user.txt";
  int max_train_examples = 0;  // 0: every task of the split
  int num_generations = 8;     // G, TRL `num_generations`
  int prompts_per_step = 2;    // prompts per generation batch (the paper: 16 completions = 2 x 8)
  int num_iterations = 4;      // mu, TRL `num_iterations`
  int max_steps = 100;         // generation batches
  int max_prompt_length = 409;
  int max_completion_length = 1639;
  double temperature = 0.9, top_p = 0.9, min_p = 0.1;
  int top_k = 0;
  // TRL's loss options (grpo_loss.hpp); the paper: dr_grpo, beta 0.005, epsilon 0.2.
  std::string loss_type = "dr_grpo";
  double beta = 0.005;
  double epsilon = 0.2;
  double epsilon_high = 0.2;
  bool use_bias_correction_kl = true;
  std::string scale_rewards = "group";
  bool mask_truncated_completions = false;
  double lr = 5e-7;
  double warmup_ratio = 0.1;
  double weight_decay = 0.01;
  double adam_beta1 = 0.9, adam_beta2 = 0.999, adam_eps = 1e-8;
  double max_grad_norm = 1.0;  // <= 0: no clipping
  reward::RewardSpec reward = reward::RewardSpec::paper();
  std::string clip_model;      // "": models/clip-vit-large-patch14
  std::string codebert_model;  // "": models/codebert-base
  double render_timeout_s = 300;
  unsigned render_workers = 0;  // 0: hardware threads
  bool allow_unsandboxed = false;
  uint64_t seed = 1230;
  int save_every = 0;  // steps; 0: at the end only
  int keep_last = 2;
  int threads = 0;     // intra-op threads; 0: every hardware thread
  std::string dtype = "f32";
  llm::LoraConfig lora;  // for a fresh adapter
};

// The factor that turns grpo_loss of one sequence (a batch of 1) into its share of the batch's
// loss, so that the shares sum to the batch loss in value and gradient: 1/batch for grpo and
// dr_grpo, max(1, active) / max(1, active_total) for bnpo, 1 for dapo (num_items_in_batch already
// counts the batch).
double grpo_sequence_share(GrpoLossType t, int64_t batch, double active, double active_total);

// Unknown keys are errors naming the key; missing keys keep their defaults ("reward" through
// reward::spec_from_json). to_json writes every key.
GrpoConfig grpo_config_from_json(const nlohmann::json& j);
nlohmann::json to_json(const GrpoConfig& c);

// The per-step metric names written to metrics.jsonl/csv, in column order (TRL's names first,
// then the toolkit's: render/*, time/*, tokens_per_s, rss_mb, peak_rss_mb).
std::vector<std::string> grpo_metric_names(const reward::RewardSpec& spec);

struct GrpoStepLog {
  int step = 0;
  std::map<std::string, double> metrics;  // grpo_metric_names
  std::map<std::string, int> failures;    // render failure class -> count (no_code included)
  // Of the first update: the largest and the mean |old - new| per-token log-prob difference over
  // active tokens (the sampler's KV-cache decoding vs the training forward of the same weights:
  // 0 up to float32 rounding), and the norm of the LoRA change over the step.
  double first_update_max_logp_diff = 0, first_update_mean_logp_diff = 0;
  double lora_delta_norm = 0;
};

struct GrpoResult {
  int steps = 0;        // done in total (including before a resume)
  int total_steps = 0;
  double wall_s = 0;    // this process's
  bool crashed = false;  // stopped by crash_after_step
  std::vector<GrpoStepLog> history;  // this process's steps
};

// What a run needs besides its configuration; never read from or written to config.json.
struct GrpoRunOptions {
  // Test hook: stop abruptly after this step (no checkpoint, no export, as a kill would); 0: never.
  int crash_after_step = 0;
};

// Checks the config, the reward's weights, the render environment, loads the model (and adapter)
// and the dataset, and trains. resume: continue from the newest checkpoint in output_dir.
GrpoResult run_grpo(const GrpoConfig& cfg, bool resume, const GrpoRunOptions& run = {});

}  // namespace mtk::train
