// rank_visual: the visual ranking suite (tests/metrics/ranking_scenes.hpp) as a program. Renders
// (render pool, render cache) every scene variant, scores it with each visual metric and prints
// the scores and Kendall's tau against identical > recoloured > shifted > different > blank.
// With --pair A B: times S_SSIM and FVS (decoding excluded) on two videos instead.
#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>

#include "../tests/metrics/ranking_scenes.hpp"
#include "mtk/core/app.hpp"
#include "mtk/core/log.hpp"

int main(int argc, char** argv) {
  return mtk::run_app("rank_visual", [&] {
    CLI::App app{"rank_visual: Kendall tau of each visual metric on the ranking suite"};
    unsigned workers = 0;
    std::string log_level = "warn";
    app.add_option("-j,--workers", workers, "concurrent renders (0 = cores)")->capture_default_str();
    app.add_option("--log-level", log_level, "trace, debug, info, warn, error or off")->capture_default_str();
    std::vector<std::string> pair;
    unsigned threads = 0;
    app.add_option("--pair", pair, "two videos: time S_SSIM and FVS on them")->expected(2);
    app.add_option("--threads", threads, "metric threads for --pair (0 = cores)")->capture_default_str();
    CLI11_PARSE(app, argc, argv);
    mtk::init_logging(log_level);
    if (!pair.empty()) {
      mtk::video::SampleOptions so;
      so.rgb = true;
      const auto a = mtk::video::load_frames(pair[0], so), b = mtk::video::load_frames(pair[1], so);
      using Clock = std::chrono::steady_clock;
      mtk::metrics::SSimScoreOptions mo;
      mo.threads = threads;
      mtk::metrics::ForegroundOptions fo;
      fo.threads = threads;
      auto t0 = Clock::now();
      const double ss = mtk::metrics::s_ssim(a.gray, b.gray, mo).score;
      auto t1 = Clock::now();
      const auto fv = mtk::metrics::s_fg(a, b, fo);
      auto t2 = Clock::now();
      std::printf("%zu x %zu frames (%dx%d): S_SSIM %.4f in %.3f s; FVS %.4f in %.3f s (ssim %.3f iou %.3f "
                  "proximity %.3f colour %.3f area %.3f)\n",
                  a.size(), b.size(), a.rgb.empty() ? 0 : a.rgb[0].width, a.rgb.empty() ? 0 : a.rgb[0].height, ss,
                  std::chrono::duration<double>(t1 - t0).count(), fv.score,
                  std::chrono::duration<double>(t2 - t1).count(), fv.mean_ssim, fv.mean_iou, fv.mean_proximity,
                  fv.mean_colour, fv.mean_area);
      return 0;
    }
    const auto r = mtk::testing::run_ranking_suite(workers);
    std::printf("%s", mtk::testing::ranking_table(r).c_str());
    std::printf("%zu renders (%zu from the render cache) in %.1f s; metrics %.2f s\n", r.renders, r.cached, r.render_s,
                r.metric_s);
    return 0;
  });
}
