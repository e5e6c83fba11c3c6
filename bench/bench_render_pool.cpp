// Render throughput: K short scenes one at a time vs through the RenderPool (render cache off),
// the shared LaTeX cache cold vs warm, and the latency of a render-cache hit. Prints numbers only.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "mtk/core/error.hpp"
#include "mtk/core/fs.hpp"
#include "mtk/core/log.hpp"
#include "mtk/core/thread_pool.hpp"
#include "mtk/core/timing.hpp"
#include "mtk/render/cache.hpp"
#include "mtk/render/pool.hpp"

using namespace mtk;
using namespace mtk::render;
namespace stdfs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {


std::string simple_scene(int i) {
  static const char* colors[] = {"RED", "GREEN", "BLUE", "YELLOW", "PURPLE"};
  return "from manim import *\n\nclass Shapes" + std::to_string(i) +
         "(Scene):\n    def construct(self):\n"
         "        s = Square(side_length=" + std::to_string(1 + (i % 4) * 0.5) + ", color=" + colors[i % 5] + ")\n"
         "        self.play(Create(s), run_time=0.5)\n"
         "        self.play(s.animate.rotate(" + std::to_string(0.1 * i) + ").shift(RIGHT), run_time=0.5)\n";
}

std::string tex_scene(const std::string& tag) {
  return "from manim import *\n\nclass Formula(Scene):\n    def construct(self):\n"
         "        self.add(MathTex(r'\\sum_{k=1}^{n} k^2 = \\frac{n(n+1)(2n+1)}{6} \\quad " + tag + "'))\n"
         "        self.add(MathTex(r'e^{i\\pi} + 1 = 0 \\quad " + tag + "').shift(DOWN))\n"
         "        self.play(FadeIn(Dot()), run_time=0.3)\n";
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Benchmark the sandboxed Manim renderer and the render pool"};
  int count = 20, workers = 0, lookups = 100;
  double timeout = 120;
  app.add_option("-k,--count", count, "scenes to render")->check(CLI::Range(1, 10000));
  app.add_option("-j,--workers", workers, "pool workers (0 = hardware threads)")->check(CLI::Range(0, 256));
  app.add_option("--timeout", timeout, "per-render timeout in seconds");
  app.add_option("--lookups", lookups, "render-cache hits to time")->check(CLI::Range(1, 100000));
  CLI11_PARSE(app, argc, argv);
  init_logging("warn");

  stdfs::path scratch;
  try {
    scratch = fs::make_temp_dir("/var/tmp", "mtk-bench-render-");
    stdfs::permissions(scratch, stdfs::perms::owner_all | stdfs::perms::group_exec | stdfs::perms::others_exec);
    RenderOptions opt;
    opt.timeout_s = timeout;
    opt.job_root = scratch / "jobs";
    opt.tex_cache = scratch / "tex";
    opt.output_dir = scratch / "outputs";
    auto renderer = std::make_shared<Renderer>(opt);
    renderer->check_environment();
    const unsigned n_workers = workers > 0 ? static_cast<unsigned>(workers) : hardware_threads();
    std::printf("manim %s, sandboxed: %s, %u hardware threads\n", manim_version(fs::manim_python()).c_str(),
                renderer->sandboxed() ? "yes" : "NO", hardware_threads());

    std::vector<RenderJob> jobs;
    for (int i = 0; i < count; ++i) jobs.push_back({simple_scene(i), "", "s" + std::to_string(i)});

    auto t0 = Clock::now();
    std::vector<double> each;
    int ok_serial = 0;
    for (const auto& j : jobs) {
      auto r = renderer->render(j);
      ok_serial += r.success;
      each.push_back(r.duration_s);
      if (!r.success) std::printf("  %s failed: %s %s\n", j.id.c_str(), std::string(to_string(r.failure)).c_str(), r.error_line.c_str());
    }
    const double serial_s = seconds_since(t0);

    RenderPool pool(renderer, n_workers);
    t0 = Clock::now();
    auto res = pool.render_all(jobs);
    const double pool_s = seconds_since(t0);
    int ok_pool = 0;
    for (const auto& r : res) ok_pool += r.success;

    std::printf("%d scenes, render cache off\n", count);
    std::printf("  one at a time : %7.2f s  (%d ok, median render %.2f s)\n", serial_s, ok_serial, median(each));
    std::printf("  pool (%2u)     : %7.2f s  (%d ok)\n", n_workers, pool_s, ok_pool);
    std::printf("  speedup       : %7.2fx\n", serial_s / pool_s);

    // LaTeX: a fresh string compiled (cold), then the same code again with the shared Tex cache.
    const std::string tag = "\\text{" + std::to_string(Clock::now().time_since_epoch().count() % 1000000) + "}";
    std::vector<double> cold, warm;
    for (int rep = 0; rep < 3; ++rep) {
      std::string code = tex_scene(tag + std::to_string(rep));
      auto c = renderer->render({code, "", "cold"});
      auto w = renderer->render({code, "", "warm"});
      if (!c.success || !w.success) {
        std::printf("  LaTeX render failed: %s\n", (c.success ? w : c).error_line.c_str());
        continue;
      }
      cold.push_back(c.duration_s);
      warm.push_back(w.duration_s);
    }
    std::printf("LaTeX cache (2 MathTex, median of %zu): cold %.2f s, warm %.2f s, saved %.2f s (%.2fx)\n", cold.size(),
                median(cold), median(warm), median(cold) - median(warm), median(cold) / std::max(1e-9, median(warm)));

    // Render cache: one miss, then timed hits (scene detection + key + entry read).
    auto cache = std::make_shared<RenderCache>(scratch / "render-cache");
    Renderer cached(opt, cache);
    auto first = cached.render(jobs[0]);
    std::vector<double> hits;
    for (int i = 0; i < lookups; ++i) {
      auto t = Clock::now();
      auto r = cached.render(jobs[0]);
      hits.push_back(seconds_since(t));
      if (!r.cached) std::printf("  unexpected cache miss\n");
    }
    std::sort(hits.begin(), hits.end());
    std::printf("render cache hit (%d lookups): median %.3f ms, p90 %.3f ms (the miss took %.2f s)\n", lookups,
                median(hits) * 1e3, hits[hits.size() * 9 / 10] * 1e3, first.duration_s);
  } catch (const Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    if (!scratch.empty()) stdfs::remove_all(scratch);
    return 1;
  }
  std::error_code ec;
  stdfs::remove_all(scratch, ec);
  return 0;
}
