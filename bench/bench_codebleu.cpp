// CodeBLEU pairs per second: ours (mtk::metrics::codebleu) vs the `codebleu` package 0.7.0 on the
// same ManimBench pairs as tests/metrics/test_codebleu.cpp (self, other, edits, no data flow, empty,
// invalid). The peer (tests/metrics/codebleu_peer.py, PYTHONHASHSEED=0) runs as a subprocess and
// times only its scoring loop (after imports and a warm-up call); ours is timed pair by pair on one
// thread (both sides analysed for every pair, as the peer does), then with the batch API (each
// distinct code analysed once) on one thread and on --threads threads. Both check that
// they agree (max |difference| of CodeBLEU over the pairs).
//
//   bench_codebleu [--repeat N] [--threads T] [--no-peer]
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>

#include "../tests/metrics/codebleu_pairs.hpp"
#include "mtk/core/error.hpp"
#include "mtk/core/fs.hpp"
#include "mtk/core/thread_pool.hpp"
#include "mtk/core/timing.hpp"
#include "mtk/data/python_syntax.hpp"
#include "mtk/metrics/codebleu.hpp"

using Clock = std::chrono::steady_clock;
namespace stdfs = std::filesystem;

namespace {

std::string sh_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

nlohmann::json run_peer(const nlohmann::json& req) {
  const stdfs::path dir = mtk::fs::make_temp_dir(stdfs::temp_directory_path(), "mtk-bench-codebleu-");
  const stdfs::path in = dir / "req.json";
  mtk::fs::atomic_write(in, req.dump());
  const std::string cmd = "PYTHONHASHSEED=0 " + sh_quote(mtk::fs::manim_python().string()) + " " +
                          sh_quote((mtk::fs::project_root() / "tests" / "metrics" / "codebleu_peer.py").string()) +
                          " < " + sh_quote(in.string());
  FILE* p = ::popen(cmd.c_str(), "r");
  std::string out;
  char buf[65536];
  size_t n;
  while (p && (n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  const int st = p ? ::pclose(p) : -1;
  std::error_code ec;
  stdfs::remove_all(dir, ec);
  if (st != 0) throw mtk::Error("the codebleu peer failed: " + cmd, "scripts/setup.sh --test");
  return nlohmann::json::parse(out);
}
}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"CodeBLEU speed: ours vs the codebleu package"};
  int repeat = 3;
  unsigned threads = mtk::hardware_threads();
  bool no_peer = false;
  app.add_option("--repeat", repeat, "passes over the pairs (ours)");
  app.add_option("--threads", threads, "threads for the batch run");
  app.add_flag("--no-peer", no_peer, "skip the Python package");
  CLI11_PARSE(app, argc, argv);
  try {
    const auto path = mtk::fs::project_root() / "data" / "manimbench" / "manimbench.jsonl";
    if (!stdfs::exists(path)) throw mtk::Error(path.string() + " is missing", "scripts/setup.sh");
    const auto pairs = mtk::testing::codebleu_pairs(mtk::testing::load_manimbench_codes(path.string()));
    std::vector<std::string> refs, hyps;
    nlohmann::json jp = nlohmann::json::array();
    for (const auto& p : pairs) {
      refs.push_back(p.reference);
      hyps.push_back(p.hypothesis);
      jp.push_back({p.reference, p.hypothesis});
    }
    std::printf("pairs: %zu ManimBench CodeBLEU pairs (self, other, edits, no data flow, empty, invalid)\n",
                pairs.size());

    std::vector<mtk::metrics::CodeBleuResult> ours(pairs.size());
    (void)mtk::metrics::codebleu(refs[0], hyps[0]);  // warm-up
    auto t0 = Clock::now();
    for (int r = 0; r < repeat; ++r)
      for (size_t i = 0; i < pairs.size(); ++i) ours[i] = mtk::metrics::codebleu(refs[i], hyps[i]);
    const double t1 = mtk::seconds_since(t0) / repeat;
    t0 = Clock::now();
    for (int r = 0; r < repeat; ++r) (void)mtk::metrics::codebleu_batch(refs, hyps, {}, 1);
    const double tb1 = mtk::seconds_since(t0) / repeat;
    t0 = Clock::now();
    for (int r = 0; r < repeat; ++r) (void)mtk::metrics::codebleu_batch(refs, hyps, {}, threads);
    const double tn = mtk::seconds_since(t0) / repeat;
    // The floor of the pair-by-pair path: tree-sitter parsing both sides (the package parses each
    // side twice, for the syntax and the data-flow match).
    std::vector<std::string> processed_refs, processed_hyps;
    for (size_t i = 0; i < pairs.size(); ++i) {
      processed_refs.push_back(mtk::metrics::remove_comments_and_docstrings(mtk::metrics::python_strip(refs[i])));
      processed_hyps.push_back(mtk::metrics::remove_comments_and_docstrings(mtk::metrics::python_strip(hyps[i])));
    }
    mtk::data::PythonParser parser;
    t0 = Clock::now();
    size_t nodes = 0;
    for (int r = 0; r < repeat; ++r)
      for (size_t i = 0; i < pairs.size(); ++i)
        nodes += parser.parse(processed_refs[i]).root().child_count() + parser.parse(processed_hyps[i]).root().child_count();
    const double tp = mtk::seconds_since(t0) / repeat;
    const double ours1 = pairs.size() / t1, oursb1 = pairs.size() / tb1, oursn = pairs.size() / tn;
    std::printf("ours, pair by pair, 1 thread: %10.1f pairs/s  (%.3f ms/pair)\n", ours1, 1e3 * t1 / pairs.size());
    std::printf("  of which tree-sitter parsing both sides: %.3f ms/pair (%.0f%%; alone it would run %.1f pairs/s)\n",
                1e3 * tp / pairs.size(), 100 * tp / t1, pairs.size() / tp);
    if (nodes == 0) std::printf("(no nodes parsed)\n");
    std::printf("ours, batch, 1 thread:        %10.1f pairs/s  (each distinct code analysed once)\n", oursb1);
    std::printf("ours, batch, %2u threads:      %10.1f pairs/s\n", threads, oursn);
    if (no_peer) return 0;

    const auto scores = run_peer({{"mode", "score"}, {"pairs", jp}});
    double max_diff = 0;
    for (size_t i = 0; i < pairs.size(); ++i)
      max_diff = std::max(max_diff, std::abs(scores[i]["codebleu"].get<double>() - ours[i].codebleu));
    const auto b = run_peer({{"mode", "bench"}, {"pairs", jp}, {"repeat", 1}});
    const double py = b["pairs"].get<double>() / b["seconds"].get<double>();
    std::printf("codebleu 0.7.0, 1 process:    %10.1f pairs/s  (%.3f ms/pair, scoring loop only)\n", py,
                1e3 / py);
    std::printf("speed-up: %.1fx pair by pair, %.1fx batch on 1 thread, %.1fx batch on %u threads (goal >= 20x)\n",
                ours1 / py, oursb1 / py, oursn / py, threads);
    std::printf("max |CodeBLEU ours - package| over the pairs: %.3g\n", max_diff);
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "bench_codebleu: " << e.what() << "\n";
    return 1;
  }
}
