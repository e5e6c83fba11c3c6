#pragma once
// Supervised fine-tuning of LoRA adapters (llm/lora.hpp) on a frozen base, as the paper's first
// stage (../shared/DESIGN.md "Fidelity": TRL SFTTrainer with completion_only_loss).
//
// Examples. Each task becomes a chat: the paper's system prompt and user turn
// (configs/prompts/paper/generate.{system,user}.txt, {description} filled in) then the assistant
// turn data::format_completion(code). The prompt is the model's chat template with the generation
// prompt; the completion is the rest of the rendered conversation (for ChatML
// "<CODE>...</CODE><|im_end|>\n"). Prompt and completion are tokenised separately and
// concatenated; when the completion holds no end-of-generation token the tokenizer's EOS is
// appended. Only completion tokens carry loss (the prompt is masked).
// Truncation (TRL's "keep_start"): a sequence longer than max_length loses the end of its
// completion (and with it the EOS); a prompt of max_length tokens or more leaves no completion
// and the example is dropped (counted in the log).
//
// Optimisation. Each optimizer step takes batch_size * grad_accum examples (one sequence per
// forward pass, no padding); its loss is the mean over all their completion tokens (TRL's
// token-level mean, across accumulation). Gradient-norm clipping over all adapter tensors
// (torch's clip_grad_norm_), then AdamW with decoupled weight decay (torch.optim.AdamW's update),
// learning rate lr * lambda(step), lambda the linear schedule with ceil(warmup_ratio * total)
// warm-up steps (transformers' get_linear_schedule_with_warmup: the first step runs at lr 0 when
// there is warm-up). Examples are reshuffled each epoch from the seed.
//
// Validation. A validation split is carved from the train split (validation_fraction of the tasks,
// chosen from the seed); the test split is never read. Validation loss (same token-level mean)
// every eval_every steps and at the end; the best adapter (lowest validation loss) is kept in
// <output_dir>/best.
//
// Run folder <output_dir>: config.json (the resolved configuration), run_meta.json (git revision,
// toolkit / libtorch / Manim versions, the base model file's sha256: core/run_meta.hpp), metrics.jsonl and
// metrics.csv (one row per step: step, epoch, loss, lr, grad_norm, tokens, completion_tokens,
// tokens_per_s, step_time_s, rss_mb, val_loss or null), checkpoint-<step>/ (the last keep_last),
// best/ and adapter/ (peft adapter directories, see lora.hpp, each with the same adapter as a
// llama.cpp LoRA GGUF: best/adapter.gguf, adapter.gguf).
//
// Checkpoints (every save_every steps and at the end): trainer_tensors.safetensors (adapter
// tensors and AdamW moments, float32 exact) and trainer_state.json (step, scheduler, RNG state,
// data order, best validation loss) plus the peft adapter, each file written atomically and the
// folder renamed into place when complete. resume continues from the newest complete checkpoint
// and reproduces an uninterrupted run bit for bit on CPU; it refuses, naming the setting, its old and
// new value and the fix, any change of a setting that changes the numbers (every key but output_dir,
// save_every and keep_last) and another number of threads than the run used.
#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "mtk/data/dataset.hpp"
#include "mtk/llm/chat_template.hpp"
#include "mtk/llm/lora.hpp"

namespace mtk::llm {
class Model;
class Tokenizer;
}  // namespace mtk::llm

namespace mtk::train {

struct SftConfig {
  std::string model = "smollm2";  // name, .gguf or Hugging Face directory
  std::string dataset = "manimbench";
  std::string output_dir = "runs/sft";
  std::string system_prompt = "configs/prompts/paper/generate.system.txt";  // file, relative to the project root
  std::string user_template = "configs/prompts/paper/generate.user.txt";    // file with {description}
  int max_length = 2048;
  double validation_fraction = 0.1;
  int max_train_examples = 0;  // 0: all (after the validation split)
  int max_val_examples = 0;    // 0: all
  int epochs = 1;
  int max_steps = 0;  // > 0: stop after this many steps (the schedule spans them)
  int batch_size = 16;
  int grad_accum = 1;
  double lr = 2e-6;
  double warmup_ratio = 0.1;
  double weight_decay = 0.01;
  double adam_beta1 = 0.9, adam_beta2 = 0.999, adam_eps = 1e-8;
  double max_grad_norm = 1.0;  // <= 0: no clipping
  uint64_t seed = 42;
  int eval_every = 0;   // steps; 0: at the end only
  int save_every = 0;   // steps; 0: at the end only
  int keep_last = 2;    // checkpoints kept
  int threads = 0;      // intra-op threads; 0: every hardware thread
  std::string dtype = "f32";
  bool shuffle = true;       // reshuffle the examples each epoch (false: dataset order)
  // Recompute each layer's activations in the backward pass (llm::Model::set_gradient_checkpointing):
  // less memory, about one more forward pass of time, the same losses and gradients.
  bool gradient_checkpointing = false;
  // "nf4": the base's layer projections quantised to NF4 at load (QLoRA's 4-bit base for a
  // safetensors model; llm/nf4.hpp); "": as the file stores them (GGUF blocks stay quantised).
  std::string quantize;
  std::string init_adapter;  // a peft adapter directory to start from ("" : a fresh adapter)
  llm::LoraConfig lora;
};

// Reads a configuration object (unknown keys are errors naming the key); missing keys keep their
// defaults. to_json writes every key. "crash_after_step", a test hook that older versions kept in
// the config (now SftRunOptions::crash_after_step), is ignored with a warning.
SftConfig sft_config_from_json(const nlohmann::json& j);
nlohmann::json to_json(const SftConfig& c);

// One tokenised training example.
struct SftExample {
  std::string id;
  std::vector<int32_t> tokens;
  int64_t prompt_len = 0;  // tokens before the completion (masked)
  bool truncated = false;
};

// The prompt and completion texts of a task (see above).
std::pair<std::string, std::string> sft_texts(const llm::ChatTemplateSpec& chat, const std::string& system,
                                              const std::string& user_template, const data::Task& task);
// Tokenises a task; nullopt-like empty tokens when the prompt alone fills max_length.
SftExample make_sft_example(const llm::Tokenizer& tok, const llm::ChatTemplateSpec& chat, const std::string& system,
                            const std::string& user_template, const data::Task& task, int max_length);

// The train/validation split of train tasks (deterministic in the seed): {train, validation}.
std::pair<std::vector<data::Task>, std::vector<data::Task>> split_validation(const std::vector<data::Task>& tasks,
                                                                             double fraction, uint64_t seed);

struct StepRecord {
  int step = 0;
  double loss = 0, lr = 0, grad_norm = 0, step_time_s = 0, tokens_per_s = 0;
  int64_t tokens = 0, completion_tokens = 0;
  double val_loss = -1;  // < 0: not evaluated at this step
};

// What a run needs besides its configuration; never read from or written to config.json.
struct SftRunOptions {
  // The base model's file (or Hugging Face directory), hashed into run_meta.json; "" for a model
  // built in memory (run_meta.json then names base_model_name only).
  std::string model_file;
  // Test hook: stop abruptly (no checkpoint, as a kill would) after this step; 0: never.
  int crash_after_step = 0;
};

struct SftResult {
  int steps = 0;         // steps done in total (including before a resume)
  int total_steps = 0;   // planned
  bool crashed = false;  // stopped by SftRunOptions::crash_after_step
  double best_val_loss = -1;
  int best_step = 0;
  double train_wall_s = 0;  // this process's training time
  double tokens_per_s = 0;  // this process's mean
  std::vector<StepRecord> history;  // every step of the run (read back from metrics.jsonl)
};

// Loads the model named in the config, its tokenizer and the dataset's train split, and trains.
// resume: continue from the newest checkpoint in output_dir (an error when there is none).
SftResult run_sft(const SftConfig& cfg, bool resume);
// The same on a loaded model (the adapter is created, attached and left attached).
SftResult run_sft(const SftConfig& cfg, llm::Model& model, const llm::Tokenizer& tok,
                  const llm::ChatTemplateSpec& chat, const std::vector<data::Task>& train_tasks, bool resume,
                  const std::string& base_model_name, const SftRunOptions& run = {});

// The training loop on tokenised examples (what run_sft does after tokenising).
SftResult run_sft_examples(const SftConfig& cfg, llm::Model& model, const std::vector<SftExample>& train,
                           const std::vector<SftExample>& val, bool resume, const std::string& base_model_name,
                           const SftRunOptions& run = {});

}  // namespace mtk::train
