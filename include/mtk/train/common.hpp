#pragma once
// Pieces the training recipes (sft.hpp, grpo.hpp) share: the learning-rate schedule, data order,
// RNG state as text, checkpoint folders, prompt files, memory use. Torch-free; the optimizer is in
// optimizer_torch.hpp.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "mtk/llm/lora.hpp"

namespace mtk::train {

// Resident set size of this process in MiB (/proc/self/status VmRSS), and its peak (VmHWM).
double rss_mb();
double peak_rss_mb();

// transformers' get_linear_schedule_with_warmup: step / warmup during warm-up (the first step at
// 0), then linearly down to 0 at `total`.
double lr_lambda(int step, int total, int warmup);

// 0..n-1, shuffled with rng (Fisher-Yates from the end) unless !shuffle.
std::vector<int64_t> epoch_order(std::mt19937_64& rng, size_t n, bool shuffle);

// The RNG's state as text (operator<<), and back.
std::string rng_state(const std::mt19937_64& r);
void set_rng_state(std::mt19937_64& r, const std::string& state);

// The complete checkpoint-<N>/ folders of a run folder (those holding trainer_state.json), by N.
std::vector<std::pair<int, std::filesystem::path>> list_checkpoints(const std::filesystem::path& dir);

// Checks the keys of a recipe's config object against `defaults` (to_json of a default config):
// an unknown key, an unknown lora.* key or a "lora" that is not an object is an mtk::Error naming
// the key ("unknown <recipe> config key 'x'", fix: see `example`). "_comment" and "//..." keys
// are comments.
void check_config_keys(const nlohmann::json& j, const nlohmann::json& defaults, const std::string& recipe,
                       const std::string& example);
// The "lora" object of a config: {"r", "alpha", "dropout", "targets"}; missing keys keep c's values.
nlohmann::json lora_config_json(const llm::LoraConfig& c);
void read_lora_config(const nlohmann::json& j, llm::LoraConfig& c);

// Writes <dir>/checkpoint-<step>/ atomically: `fill` writes the files into
// checkpoint-<step>.partial/, which is then renamed into place; afterwards only the newest
// keep_last complete checkpoints are kept.
void write_checkpoint(const std::filesystem::path& dir, int step, int keep_last,
                      const std::function<void(const std::filesystem::path&)>& fill);

// Keeps the rows of <dir>/metrics.jsonl up to `step` (a resumed run rewrites what an interrupted
// run logged after its checkpoint; lines cut by a kill are dropped) and rebuilds metrics.csv from
// them: `csv_header`, then csv_row(row) per row.
void keep_metrics_until(const std::filesystem::path& dir, int step, const std::string& csv_header,
                        const std::function<std::string(const nlohmann::json&)>& csv_row);

// <dir>/run_meta.json of a training run (core/run_meta.hpp): kind ("manim-train sft"), the
// resolved config plus "resume", libtorch and Manim versions, and `models` (run_meta::model_json).
void write_train_run_meta(const std::filesystem::path& dir, const std::string& kind, const nlohmann::json& resolved,
                          bool resume, std::vector<nlohmann::json> models);

// A prompt file's text without trailing newlines; a relative path not found from the working
// directory is read from the project root.
std::string read_prompt_file(const std::string& path);

}  // namespace mtk::train
