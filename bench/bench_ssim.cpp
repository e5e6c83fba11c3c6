// S_SSIM speed: ours (SSIM matrix + FastDTW) against the paper's Python (skimage + fastdtw) on the
// same frames of a 10 s vs 10 s pair of 854x480 Manim renders (5 fps sampling: about 50 x 50 SSIMs).
// The two scenes are rendered once and cached (see tests/video/manim_fixture.hpp). The Python
// reference (tests/python/ssim_reference.py --frames) reads our decoded frames and reports its own
// compute time, so start-up and decoding are excluded on both sides.
//
//   bench_ssim [--threads N] [--repeat R] [--no-python]
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>

#include "../tests/video/manim_fixture.hpp"
#include "../tests/video/scenes.hpp"
#include "mtk/core/error.hpp"
#include "mtk/core/fs.hpp"
#include "mtk/core/thread_pool.hpp"
#include "mtk/core/timing.hpp"
#include "mtk/metrics/visual.hpp"
#include "mtk/video/decode.hpp"
#include "mtk/video/frame_dump.hpp"

namespace stdfs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {


double process_cpu_s() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + 1e-6 * (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

struct Timing {
  double wall = 1e30, cpu = 1e30;  // best of the runs
};

// Best of `repeat` runs of S_SSIM (matrix + DTW): wall seconds and CPU seconds of all threads.
Timing time_ours(const std::vector<mtk::video::Image>& ref, const std::vector<mtk::video::Image>& gen,
                 unsigned threads, bool reuse, int repeat, mtk::metrics::SSimScore* out) {
  mtk::metrics::SSimScoreOptions opts;
  opts.threads = threads;
  opts.ssim.reuse_identical_frames = reuse;
  Timing t;
  for (int r = 0; r < repeat; ++r) {
    const double c0 = process_cpu_s();
    const auto t0 = Clock::now();
    *out = mtk::metrics::s_ssim(ref, gen, opts);
    t.wall = std::min(t.wall, mtk::seconds_since(t0));
    t.cpu = std::min(t.cpu, process_cpu_s() - c0);
  }
  return t;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"S_SSIM benchmark: ours vs the paper's Python on a 10 s vs 10 s 854x480 pair"};
  unsigned threads = 0;
  int repeat = 3;
  bool no_python = false;
  app.add_option("--threads", threads, "threads for ours (0 = all cores)");
  app.add_option("--repeat", repeat, "runs of ours (best is reported)");
  app.add_flag("--no-python", no_python, "skip the Python reference");
  CLI11_PARSE(app, argc, argv);
  try {
    if (threads == 0) threads = mtk::hardware_threads();
    std::printf("rendering (cached) two 10 s scenes at -ql ...\n");
    std::fflush(stdout);
    const auto ref_video = mtk::testing::render_scene(mtk::testing::long_code("BLUE", "RIGHT"), "Long");
    const auto gen_video = mtk::testing::render_scene(mtk::testing::long_code("RED", "UP"), "Long");
    auto t0 = Clock::now();
    const auto ref = mtk::video::load_frames(ref_video);
    const auto gen = mtk::video::load_frames(gen_video);
    const double decode_s = mtk::seconds_since(t0);
    std::printf("ref %s: %lld frames decoded, %zu sampled (every %d), %dx%d\n", ref_video.string().c_str(),
                static_cast<long long>(ref.decoded), ref.size(), ref.step, ref.gray[0].width, ref.gray[0].height);
    std::printf("gen %s: %lld frames decoded, %zu sampled (every %d)\n", gen_video.string().c_str(),
                static_cast<long long>(gen.decoded), gen.size(), gen.step);
    std::printf("decode (both videos, ours): %.3f s\n", decode_s);

    mtk::metrics::SSimScore s, s1, s_noreuse;
    const Timing ours = time_ours(ref.gray, gen.gray, threads, true, repeat, &s);
    const Timing ours_1t = time_ours(ref.gray, gen.gray, 1, true, repeat, &s1);
    const Timing ours_noreuse = time_ours(ref.gray, gen.gray, threads, false, repeat, &s_noreuse);
    const size_t pairs = ref.size() * gen.size();
    std::printf("ours: S_SSIM = %.9f, %zu x %zu = %zu SSIMs, %u threads: %.3f s wall, %.3f s CPU (%.3f ms per SSIM)\n",
                s.score, ref.size(), gen.size(), pairs, threads, ours.wall, ours.cpu, 1e3 * ours.wall / pairs);
    std::printf("ours, 1 thread: %.3f s wall, %.3f s CPU; %u threads without reusing identical frames: %.3f s wall\n",
                ours_1t.wall, ours_1t.cpu, threads, ours_noreuse.wall);
    if (s1.score != s.score || s_noreuse.score != s.score) std::printf("WARNING: scores differ between runs\n");

    if (!no_python) {
      mtk::testing::require_python_peers();
      const auto dir = mtk::fs::make_temp_dir(stdfs::temp_directory_path(), "mtk-bench-ssim-");
      mtk::video::write_frame_dump(dir / "ref.dump", ref.gray);
      mtk::video::write_frame_dump(dir / "gen.dump", gen.gray);
      std::printf("running the Python reference (skimage + fastdtw, single process) ...\n");
      std::fflush(stdout);
      const auto r = mtk::testing::run_command(
          mtk::testing::shell_quote(mtk::testing::venv_python().string()) + " " +
              mtk::testing::shell_quote((mtk::testing::python_tests_dir() / "ssim_reference.py").string()) +
              " --no-matrix --frames " + mtk::testing::shell_quote((dir / "ref.dump").string()) + " " +
              mtk::testing::shell_quote((dir / "gen.dump").string()),
          false);
      std::error_code ec;
      stdfs::remove_all(dir, ec);
      if (r.status != 0) throw mtk::Error("the Python reference failed: " + r.output);
      const auto py = nlohmann::json::parse(r.output);
      const double py_s = py["compute_s"].get<double>(), py_cpu = py["compute_cpu_s"].get<double>();
      std::printf("python: S_SSIM = %.9f, compute %.3f s wall, %.3f s CPU (SSIM matrix %.3f s, fastdtw %.4f s, %s)\n",
                  py["score"].get<double>(), py_s, py_cpu, py["ssim_s"].get<double>(), py["dtw_s"].get<double>(),
                  py["fastdtw_module"].get<std::string>().c_str());
      std::printf("|S_SSIM ours - python| = %.3g\n", std::fabs(py["score"].get<double>() - s.score));
      std::printf("speed-up (wall): %.1fx with %u threads, %.1fx with 1 thread, %.1fx with %u threads and no frame reuse\n",
                  py_s / ours.wall, threads, py_s / ours_1t.wall, py_s / ours_noreuse.wall, threads);
      std::printf("speed-up (CPU time, robust to a busy machine): %.1fx (1 thread: %.1fx)\n", py_cpu / ours.cpu,
                  py_cpu / ours_1t.cpu);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_ssim: %s\n", e.what());
    return 1;
  }
  return 0;
}
