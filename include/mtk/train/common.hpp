#pragma once
// Pieces the training recipes (sft.hpp, grpo.hpp) share: the learning-rate schedule, data order,
// RNG state as text, checkpoint folders, prompt files, memory use. Torch-free; the optimizer is in
// optimizer_torch.hpp.
#include <cstdint>
#include <filesystem>
#include <random>
#include <string>
#include <utility>
#include <vector>

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

// A prompt file's text without trailing newlines; a relative path not found from the working
// directory is read from the project root.
std::string read_prompt_file(const std::string& path);

}  // namespace mtk::train
