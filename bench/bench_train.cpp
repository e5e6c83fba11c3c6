// SFT training speed on CPU: LoRA (r=8, all seven projections) on a frozen GGUF base, one
// ManimBench train example per forward pass as manim-train sft runs them. Prints, for the same
// examples: forward-only tokens/s (no autograd: the inference prefill), training tokens/s
// (forward + backward of the completion-only loss + the AdamW-sized update excluded), their
// ratio, and peak RSS; then the same for transformers + peft on the same examples
// (bench/peft_train_peer.py, the GGUF dequantised to float32, LoRA r=8 on the same projections, the
// same threads) with a Python that has torch, transformers, gguf and peft (--peer-python; torch is
// not a project dependency, so a throwaway venv), and the ratios.
//   bench_train [--model smollm2] [--examples 4] [--max-length 2048] [--threads N] [--peer-python PY]
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <sys/resource.h>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <filesystem>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <string>
#include <thread>
#include <vector>

#include "mtk/core/fs.hpp"
#include "mtk/core/log.hpp"
#include "mtk/core/timing.hpp"
#include "mtk/data/dataset.hpp"
#include "mtk/llm/generate.hpp"
#include "mtk/llm/lora.hpp"
#include "mtk/llm/lora_torch.hpp"
#include "mtk/llm/model.hpp"
#include "mtk/train/sft.hpp"

using namespace mtk;
using Clock = std::chrono::steady_clock;

namespace {
}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"bench_train: SFT (LoRA) training tokens/s on CPU"};
  std::string model = "smollm2";
  int examples = 4, max_length = 2048, threads = static_cast<int>(std::thread::hardware_concurrency());
  app.add_option("--model", model, "model name or path")->capture_default_str();
  app.add_option("--examples", examples, "ManimBench train examples timed")->capture_default_str();
  app.add_option("--max-length", max_length, "max tokens per example")->capture_default_str();
  app.add_option("--threads", threads, "intra-op threads")->capture_default_str();
  bool ckpt = false;
  app.add_flag("--gradient-checkpointing", ckpt, "recompute each layer's activations in backward (compare peak RSS)");
  std::string peer_python = std::filesystem::exists("/tmp/hfvenv/bin/python") ? "/tmp/hfvenv/bin/python" : "";
  app.add_option("--peer-python", peer_python, "Python with torch, transformers, gguf and peft for the peer "
                                               "(\"\" skips it)")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  init_logging("warn");
  llm::LanguageModel::Options o;
  o.threads = threads;
  auto lm = llm::LanguageModel::load(model, o);
  llm::Model& m = lm->mutable_model();
  const auto tasks = data::load_dataset("manimbench", "train");
  const std::string sys = fs::read_file(fs::project_root() / "configs/prompts/paper/generate.system.txt");
  const std::string user = "Generate code for the following text script:\n<TEXT_SCRIPT>\n{description}\n</TEXT_SCRIPT>";
  std::vector<train::SftExample> exs;
  for (size_t i = 0; i < tasks.size() && static_cast<int>(exs.size()) < examples; ++i) {
    auto ex = train::make_sft_example(lm->tokenizer(), lm->chat_template(), sys, user, tasks[i], max_length);
    if (!ex.tokens.empty()) exs.push_back(std::move(ex));
  }
  auto set = llm::LoraSet::create(m, llm::LoraConfig{}, 1);
  m.set_adapter(set);
  m.set_gradient_checkpointing(ckpt);
  auto params = llm::lora_parameters(*set);
  int64_t tokens = 0, comp = 0;
  for (const auto& e : exs) {
    tokens += static_cast<int64_t>(e.tokens.size());
    comp += static_cast<int64_t>(e.tokens.size()) - e.prompt_len;
  }
  auto nll = [&](const train::SftExample& ex) {
    const int64_t n = static_cast<int64_t>(ex.tokens.size());
    const at::Tensor ids = at::tensor(std::vector<int64_t>(ex.tokens.begin(), ex.tokens.end()), at::kLong);
    const at::Tensor h = m.forward_hidden(ids.narrow(0, 0, n - 1).view({1, n - 1}));
    const at::Tensor logits = m.output_logits(h.select(0, 0).narrow(0, ex.prompt_len - 1, n - ex.prompt_len));
    return at::cross_entropy_loss(logits, ids.narrow(0, ex.prompt_len, n - ex.prompt_len), {}, at::Reduction::Sum);
  };
  // Warm-up on the first example.
  {
    at::NoGradGuard ng;
    nll(exs[0]);
  }
  auto t0 = Clock::now();
  std::clock_t c0 = std::clock();
  {
    at::NoGradGuard ng;
    for (const auto& e : exs) nll(e);
  }
  const double fwd = seconds_since(t0), fwd_cpu = static_cast<double>(std::clock() - c0) / CLOCKS_PER_SEC;
  t0 = Clock::now();
  c0 = std::clock();
  for (const auto& e : exs) (nll(e) / static_cast<double>(comp)).backward();
  const double train_s = seconds_since(t0), train_cpu = static_cast<double>(std::clock() - c0) / CLOCKS_PER_SEC;
  std::printf("bench_train: %s, %zu ManimBench examples, %lld tokens (%lld completion), %d threads, LoRA %lld params%s\n",
              model.c_str(), exs.size(), static_cast<long long>(tokens), static_cast<long long>(comp),
              at::get_num_threads(), static_cast<long long>(set->parameter_count()),
              ckpt ? ", gradient checkpointing" : "");
  std::printf("forward only (no grad):   %7.1f tokens/s  (%.2f s)\n", static_cast<double>(tokens) / fwd, fwd);
  std::printf("train (forward+backward): %7.1f tokens/s  (%.2f s, %.2f s per example)\n",
              static_cast<double>(tokens) / train_s, train_s, train_s / static_cast<double>(exs.size()));
  std::printf("ratio train / forward:    %7.2f\n", fwd / train_s);
  // CPU seconds (all threads) are less sensitive to other processes sharing the machine.
  std::printf("CPU time: forward %.2f s (%.1f tokens per CPU-second), train %.2f s (%.1f tokens per CPU-second)\n",
              fwd_cpu, static_cast<double>(tokens) / fwd_cpu, train_cpu, static_cast<double>(tokens) / train_cpu);
  std::printf("peak RSS: %.0f MiB\n", mtk::peak_rss_mib());
  if (peer_python.empty()) {
    std::printf("transformers + peft: skipped (pass --peer-python with torch, transformers, gguf and peft)\n");
    return 0;
  }
  nlohmann::json req{{"gguf", lm->path()}, {"threads", at::get_num_threads()}, {"r", set->config().r},
                     {"alpha", set->config().alpha}, {"targets", set->config().targets}};
  req["examples"] = nlohmann::json::array();
  for (const auto& e : exs) req["examples"].push_back({{"tokens", e.tokens}, {"prompt_len", e.prompt_len}});
  const auto dir = fs::make_temp_dir(std::filesystem::temp_directory_path(), "mtk-bench-train-");
  fs::atomic_write(dir / "req.json", req.dump());
  const std::string cmd = "'" + peer_python + "' '" + (fs::project_root() / "bench/peft_train_peer.py").string() +
                          "' < '" + (dir / "req.json").string() + "' 2>/dev/null";
  std::string out;
  FILE* p = ::popen(cmd.c_str(), "r");
  char buf[4096];
  size_t n;
  while (p && (n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  const int st = p ? ::pclose(p) : -1;
  std::filesystem::remove_all(dir);
  if (st != 0 || out.empty()) {
    std::printf("transformers + peft: the peer failed (%s)\n", cmd.c_str());
    return 1;
  }
  const auto r = nlohmann::json::parse(out);
  const double pf = r["forward_s"].get<double>(), pt = r["train_s"].get<double>();
  std::printf("transformers %s + peft %s (torch %s, float32 dense weights): forward %7.1f tokens/s, train %7.1f "
              "tokens/s, peak RSS %.0f MiB\n",
              r["transformers"].get<std::string>().c_str(), r["peft"].get<std::string>().c_str(),
              r["torch"].get<std::string>().c_str(), static_cast<double>(tokens) / pf, static_cast<double>(tokens) / pt,
              r["peak_rss_mib"].get<double>());
  std::printf("ours / transformers+peft: forward %.2fx, train %.2fx\n", pf / fwd, pt / train_s);
  return 0;
}
