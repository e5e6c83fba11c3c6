// LLM speed against llama.cpp on the same GGUF file and machine: prefill and greedy decode
// tokens/s at batch 1 and batch 8, and peak RSS. Our side runs in this process (the libtorch model,
// weights dequantised to float32); llama.cpp runs through llama-cpp-python
// (tests/llm/llamacpp_eval.py bench) as a child process, one configuration at a time, so the two
// never compete for the cores. Prints both and the ratios (ours / llama.cpp; above 1 = faster).
//   bench_llm [--model smollm2] [--prompt 128] [--new 64] [--threads N]
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <c10/core/InferenceMode.h>
#include <sys/resource.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "mtk/core/error.hpp"
#include "mtk/core/fs.hpp"
#include "mtk/core/log.hpp"
#include "mtk/core/timing.hpp"
#include "mtk/llm/model.hpp"
#include "mtk/llm/model_info.hpp"

using namespace mtk;
using namespace mtk::llm;
using Clock = std::chrono::steady_clock;

namespace {



std::string quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

struct Result {
  double prefill_tok_s = 0, decode_tok_s = 0, rss = 0;
};

Result ours(const Model& m, int batch, int prompt_len, int new_tokens) {
  c10::InferenceMode guard;
  std::mt19937 rng(0);
  std::uniform_int_distribution<int64_t> d(100, std::min<int64_t>(m.config().vocab_size, 20000) - 1);
  at::Tensor toks = at::empty({batch, prompt_len}, at::kLong);
  for (int64_t i = 0; i < toks.numel(); ++i) toks.data_ptr<int64_t>()[i] = d(rng);
  double best_pre = 1e30, best_dec = 1e30;
  for (int rep = 0; rep < 3; ++rep) {  // the first run warms up
    KvCache cache = m.new_cache(std::vector<int64_t>(static_cast<size_t>(batch), 0), prompt_len + new_tokens);
    const auto t0 = Clock::now();
    at::Tensor logits = m.forward(toks, &cache, true);
    at::Tensor next = logits.argmax(-1);  // [B, 1]
    const double pre = seconds_since(t0);
    const auto t1 = Clock::now();
    for (int s = 0; s < new_tokens; ++s) next = m.forward(next, &cache, true).argmax(-1);
    const double dec = seconds_since(t1);
    if (rep > 0) {
      best_pre = std::min(best_pre, pre);
      best_dec = std::min(best_dec, dec);
    }
  }
  return {batch * prompt_len / best_pre, batch * new_tokens / best_dec, mtk::peak_rss_mib()};
}

Result peer(const std::string& model, int batch, int prompt_len, int new_tokens, int threads) {
  const std::string cmd = quote(fs::manim_python().string()) + " " +
                          quote((fs::project_root() / "tests" / "llm" / "llamacpp_eval.py").string()) + " bench " +
                          quote(model) + " " + std::to_string(prompt_len) + " " + std::to_string(new_tokens) + " " +
                          std::to_string(batch) + " " + std::to_string(threads);
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) throw Error("cannot run " + cmd, "check that python works");
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  if (::pclose(p) != 0 || out.empty())
    throw Error("the llama.cpp peer failed: " + cmd, "run scripts/setup.sh --test (installs llama-cpp-python)");
  const auto j = nlohmann::json::parse(out);
  return {j.at("prefill_tok_s").get<double>(), j.at("decode_tok_s").get<double>(), j.at("peak_rss_mib").get<double>()};
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"LLM prefill/decode speed and memory against llama.cpp (llama-cpp-python) on the same GGUF"};
  std::string model = "smollm2";
  int prompt_len = 128, new_tokens = 64, threads = static_cast<int>(std::thread::hardware_concurrency());
  std::vector<int> batches = {1, 8};
  app.add_option("--model", model, "smollm2, gemma3 or a .gguf path")->capture_default_str();
  app.add_option("--prompt", prompt_len, "prompt tokens per sequence")->capture_default_str();
  app.add_option("--new", new_tokens, "generated tokens per sequence")->capture_default_str();
  app.add_option("--threads", threads, "threads for both engines")->capture_default_str();
  app.add_option("--batch", batches, "batch sizes")->capture_default_str();
  bool no_peer = false;
  app.add_flag("--no-peer", no_peer, "ours only (no llama.cpp run, no ratios): for comparing our own settings");
  CLI11_PARSE(app, argc, argv);
  init_logging("warn");
  try {
    at::set_num_threads(threads);
    const std::string path = resolve_model(model);
    const auto t0 = Clock::now();
    auto m = Model::load(path);
    const double load_s = seconds_since(t0);
    std::printf("model %s (%s), %lld parameters, loaded in %.2f s; %d threads; prompt %d, new %d tokens\n",
                path.c_str(), m->config().arch.c_str(), static_cast<long long>(m->parameter_count()), load_s, threads,
                prompt_len, new_tokens);
    std::printf("%-6s %14s %14s %14s %14s %10s %10s\n", "batch", "prefill tok/s", "llama.cpp", "decode tok/s",
                "llama.cpp", "prefill x", "decode x");
    for (int b : batches) {
      const Result o = ours(*m, b, prompt_len, new_tokens);
      if (no_peer) {
        std::printf("%-6d %14.1f %14s %14.1f %14s\n", b, o.prefill_tok_s, "-", o.decode_tok_s, "-");
        std::printf("       peak RSS: ours %.0f MiB\n", o.rss);
        continue;
      }
      const Result p = peer(path, b, prompt_len, new_tokens, threads);
      std::printf("%-6d %14.1f %14.1f %14.1f %14.1f %10.2f %10.2f\n", b, o.prefill_tok_s, p.prefill_tok_s, o.decode_tok_s,
                  p.decode_tok_s, o.prefill_tok_s / p.prefill_tok_s, o.decode_tok_s / p.decode_tok_s);
      std::printf("       peak RSS: ours %.0f MiB, llama.cpp %.0f MiB (process totals so far)\n", o.rss, p.rss);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_llm: %s\n", e.what());
    return 1;
  }
  return 0;
}
