#pragma once
// The visual ranking suite (issue 5): reference Manim scenes we wrote, each with four edits of its
// code, rendered for real by the sandboxed renderer (render pool + render cache, -ql), decoded by
// our video module and scored by every visual metric available. The expected order is
//   identical > recoloured > shifted > different > blank,
// and each metric's Kendall tau against it is reported per scene and averaged.
// Header-only without Catch2: used by tests/metrics/test_visual_ranking.cpp and bench/rank_visual.cpp.
//
// Variants, from one template per scene with placeholders {C1} {C2} {C3} (colours) and {S}
// (a shift applied to every object):
//   identical:  the reference code itself (rendered once, scored against itself);
//   recoloured: the same code with other colours;
//   shifted:    the same code with every object moved by 1.5 units (about 90 px at 854x480);
//   different:  another scene (other objects, other place);
//   blank:      the same Scene class drawing nothing: self.wait(1).
#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "mtk/core/error.hpp"
#include "mtk/metrics/foreground.hpp"
#include "mtk/metrics/visual.hpp"
#include "mtk/render/cache.hpp"
#include "mtk/render/pool.hpp"
#include "mtk/video/decode.hpp"

namespace mtk::testing {

inline constexpr int kVariants = 5;
inline const std::array<const char*, kVariants> kVariantNames = {"identical", "recoloured", "shifted", "different",
                                                                  "blank"};

struct RankingScene {
  std::string name;
  std::array<std::string, kVariants> code;  // in kVariantNames order; [0] is the reference
};

namespace ranking_detail {

inline std::string replace_all(std::string s, const std::string& from, const std::string& to) {
  for (size_t p = s.find(from); p != std::string::npos; p = s.find(from, p + to.size())) s.replace(p, from.size(), to);
  return s;
}

inline std::string scene_file(const std::string& body) {
  return "from manim import *\n\n\nclass Ranking(Scene):\n    def construct(self):\n" + body;
}

// body: the construct() body (8-space indented) using C1, C2, C3 and S.
inline RankingScene make(const std::string& name, const std::string& body, const std::string& colours,
                         const std::string& recolours, const std::string& different_body) {
  auto fill = [&](const std::string& cols, const std::string& shift) {
    return scene_file("        C1, C2, C3 = " + cols + "\n        S = " + shift + "\n" + body);
  };
  RankingScene s;
  s.name = name;
  s.code[0] = fill(colours, "ORIGIN");
  s.code[1] = fill(recolours, "ORIGIN");
  s.code[2] = fill(colours, "RIGHT * 1.5");
  s.code[3] = scene_file(different_body);
  s.code[4] = scene_file("        self.wait(1)\n");
  return s;
}

}  // namespace ranking_detail

inline std::vector<RankingScene> ranking_scenes() {
  using ranking_detail::make;
  std::vector<RankingScene> v;
  v.push_back(make("square_to_circle",
                   "        sq = Square(side_length=2.5, color=C1, fill_opacity=0.6).shift(S)\n"
                   "        self.play(Create(sq), run_time=0.8)\n"
                   "        self.play(Transform(sq, Circle(radius=1.4, color=C1, fill_opacity=0.6).shift(S)), run_time=0.8)\n",
                   "(BLUE, WHITE, WHITE)", "(RED, WHITE, WHITE)",
                   "        t = Text(\"Hello\", font_size=80, color=WHITE).to_edge(UP)\n"
                   "        self.play(Write(t), run_time=1)\n"
                   "        self.play(t.animate.shift(DOWN), run_time=0.6)\n"));
  v.push_back(make("text",
                   "        t = Text(\"Manim\", font_size=110, color=C1).shift(S)\n"
                   "        self.play(Write(t), run_time=1)\n"
                   "        self.play(t.animate.scale(0.8), run_time=0.6)\n",
                   "(WHITE, WHITE, WHITE)", "(YELLOW, WHITE, WHITE)",
                   "        c = Circle(radius=1.5, color=GREEN)\n"
                   "        self.play(Create(c), run_time=1)\n"
                   "        self.play(c.animate.shift(LEFT * 3), run_time=0.6)\n"));
  v.push_back(make("mathtex",
                   "        f = MathTex(r\"e^{i\\pi} + 1 = 0\", color=C1).scale(2).shift(S)\n"
                   "        self.play(Write(f), run_time=1.2)\n"
                   "        self.wait(0.4)\n",
                   "(WHITE, WHITE, WHITE)", "(ORANGE, WHITE, WHITE)",
                   "        r = Rectangle(width=5, height=1, color=BLUE, fill_opacity=0.8).to_edge(DOWN)\n"
                   "        self.play(GrowFromCenter(r), run_time=1)\n"
                   "        self.wait(0.6)\n"));
  v.push_back(make("axes_graph",
                   "        ax = Axes(x_range=[-3, 3, 1], y_range=[-1.5, 1.5, 0.5], x_length=6, y_length=3.5,\n"
                   "                  tips=False, axis_config={\"color\": C2}).shift(S)\n"
                   "        g = ax.plot(lambda x: np.sin(2 * x), color=C1)\n"
                   "        self.play(Create(ax), run_time=0.6)\n"
                   "        self.play(Create(g), run_time=1)\n",
                   "(YELLOW, WHITE, WHITE)", "(PURPLE, TEAL, WHITE)",
                   "        sq = VGroup(*[Square(side_length=0.8, color=RED, fill_opacity=0.7) for _ in range(3)])\n"
                   "        sq.arrange(DOWN, buff=0.3).to_edge(LEFT)\n"
                   "        self.play(FadeIn(sq), run_time=0.8)\n"
                   "        self.play(sq.animate.rotate(PI / 4), run_time=0.8)\n"));
  v.push_back(make("three_shapes",
                   "        g = VGroup(Circle(radius=0.8, color=C1, fill_opacity=0.7),\n"
                   "                   Square(side_length=1.5, color=C2, fill_opacity=0.7),\n"
                   "                   Triangle(color=C3, fill_opacity=0.7).scale(0.9)).arrange(RIGHT, buff=0.6).shift(S)\n"
                   "        self.play(FadeIn(g), run_time=0.8)\n"
                   "        self.play(Rotate(g[1], PI / 4), run_time=0.8)\n",
                   "(RED, GREEN, BLUE)", "(YELLOW, PURPLE, ORANGE)",
                   "        l = Line(LEFT * 5 + DOWN * 3, RIGHT * 5 + UP * 3, color=WHITE, stroke_width=8)\n"
                   "        self.play(Create(l), run_time=1)\n"
                   "        self.play(l.animate.rotate(PI / 3), run_time=0.6)\n"));
  v.push_back(make("moving_dot",
                   "        d = Dot(LEFT * 3, radius=0.35, color=C1).shift(S)\n"
                   "        self.add(d)\n"
                   "        self.play(d.animate.shift(RIGHT * 4), run_time=1.5)\n",
                   "(RED, WHITE, WHITE)", "(GREEN, WHITE, WHITE)",
                   "        s = Star(n=5, outer_radius=1.5, color=YELLOW, fill_opacity=0.8).shift(UP * 1.5 + RIGHT * 3)\n"
                   "        self.play(DrawBorderThenFill(s), run_time=1.5)\n"));
  v.push_back(make("star_to_hexagon",
                   "        s = Star(n=5, outer_radius=1.8, color=C1, fill_opacity=0.8).shift(S)\n"
                   "        self.play(DrawBorderThenFill(s), run_time=0.8)\n"
                   "        self.play(Transform(s, RegularPolygon(n=6, color=C1, fill_opacity=0.8).scale(1.8).shift(S)), run_time=0.8)\n",
                   "(YELLOW, WHITE, WHITE)", "(TEAL, WHITE, WHITE)",
                   "        ax = NumberPlane(x_range=[-7, 7, 1], y_range=[-4, 4, 1])\n"
                   "        self.play(Create(ax), run_time=1.5)\n"));
  v.push_back(make("bars",
                   "        bars = VGroup(*[Rectangle(width=0.7, height=h, color=C1, fill_opacity=0.8) for h in [1, 2.2, 1.6, 3, 2.4]])\n"
                   "        bars.arrange(RIGHT, buff=0.25, aligned_edge=DOWN).shift(DOWN * 0.5 + S)\n"
                   "        self.play(LaggedStart(*[GrowFromEdge(b, DOWN) for b in bars], lag_ratio=0.2), run_time=1.5)\n",
                   "(BLUE, WHITE, WHITE)", "(ORANGE, WHITE, WHITE)",
                   "        t = Text(\"Bar chart\", font_size=60, color=WHITE).to_corner(UL)\n"
                   "        c = Circle(radius=1, color=RED).to_corner(DR)\n"
                   "        self.play(Write(t), Create(c), run_time=1.5)\n"));
  v.push_back(make("arrow_label",
                   "        a = Arrow(LEFT * 2.5, RIGHT * 2.5, color=C1, stroke_width=10).shift(S)\n"
                   "        lab = Text(\"force\", font_size=48, color=C2).next_to(a, UP)\n"
                   "        self.play(GrowArrow(a), run_time=0.8)\n"
                   "        self.play(Write(lab), run_time=0.8)\n",
                   "(WHITE, YELLOW, WHITE)", "(RED, GREEN, WHITE)",
                   "        dots = VGroup(*[Dot(radius=0.2, color=BLUE) for _ in range(6)]).arrange_in_grid(2, 3, buff=1).shift(DOWN * 2 + LEFT * 3)\n"
                   "        self.play(LaggedStart(*[FadeIn(d) for d in dots], lag_ratio=0.3), run_time=1.6)\n"));
  v.push_back(make("number_line",
                   "        nl = NumberLine(x_range=[-4, 4, 1], length=7, color=C2, include_numbers=True).shift(S)\n"
                   "        d = Dot(nl.n2p(-3), radius=0.15, color=C1)\n"
                   "        self.play(Create(nl), FadeIn(d), run_time=0.8)\n"
                   "        self.play(d.animate.move_to(nl.n2p(3)), run_time=0.8)\n",
                   "(RED, WHITE, WHITE)", "(BLUE, ORANGE, WHITE)",
                   "        t = Triangle(color=PURPLE, fill_opacity=0.7).scale(2).shift(UP)\n"
                   "        self.play(SpinInFromNothing(t), run_time=1)\n"
                   "        self.play(t.animate.shift(DOWN * 2), run_time=0.6)\n"));
  v.push_back(make("grid",
                   "        g = VGroup(*[Square(side_length=0.7, color=[C1, C2, C3][k % 3], fill_opacity=0.7) for k in range(9)])\n"
                   "        g.arrange_in_grid(3, 3, buff=0.15).shift(S)\n"
                   "        self.play(LaggedStart(*[FadeIn(s) for s in g], lag_ratio=0.15), run_time=1.2)\n"
                   "        self.play(g.animate.rotate(PI / 8), run_time=0.5)\n",
                   "(RED, GREEN, BLUE)", "(PURPLE, YELLOW, TEAL)",
                   "        w = Text(\"Grid?\", font_size=90, color=GREEN).to_edge(DOWN)\n"
                   "        self.play(FadeIn(w, shift=UP), run_time=1.2)\n"
                   "        self.wait(0.5)\n"));
  return v;
}

// Kendall's tau-a of `scores` (in kVariantNames order) against the expected strictly decreasing
// order: (concordant - discordant) / (n (n - 1) / 2), a tie counting as neither. 1 = perfect order.
inline double kendall_tau(const std::vector<double>& scores) {
  const size_t n = scores.size();
  long long c = 0, d = 0;
  for (size_t i = 0; i < n; ++i)
    for (size_t j = i + 1; j < n; ++j) {
      if (scores[i] > scores[j]) ++c;       // expected: i ranks above j
      else if (scores[i] < scores[j]) ++d;
    }
  return n < 2 ? 1.0 : static_cast<double>(c - d) / (static_cast<double>(n) * (n - 1) / 2.0);
}

struct RankingRow {
  std::string scene;
  // metric name -> score of each variant (kVariantNames order) against the reference.
  std::map<std::string, std::vector<double>> scores;
  std::map<std::string, double> tau;
  std::vector<size_t> frames;  // sampled frames per variant
};

struct RankingResult {
  std::vector<RankingRow> rows;
  std::vector<std::string> metrics;      // computed, in column order
  std::vector<std::string> unavailable;  // metrics that could not be computed here, with the reason
  std::map<std::string, double> mean_tau;
  size_t renders = 0, cached = 0;
  double render_s = 0.0, metric_s = 0.0;
};

// Renders every variant (render pool, render cache) and scores it. Throws mtk::Error when a
// render fails (our scenes must render).
inline RankingResult run_ranking_suite(unsigned workers = 0) {
  using Clock = std::chrono::steady_clock;
  const auto scenes = ranking_scenes();
  RankingResult res;
  auto t0 = Clock::now();
  render::RenderPool pool(render::RenderOptions{}, std::make_shared<render::RenderCache>(), workers);
  pool.renderer().check_environment();
  // Each distinct code renders once (the blank variant is the same file for every scene).
  std::vector<render::RenderJob> jobs;
  std::map<std::string, size_t> job_of;
  std::vector<size_t> slot;  // scene * kVariants + k -> job
  for (const auto& s : scenes)
    for (int k = 0; k < kVariants; ++k) {
      auto [it, fresh] = job_of.emplace(s.code[k], jobs.size());
      if (fresh) jobs.push_back({s.code[k], "Ranking", s.name + "-" + kVariantNames[k]});
      slot.push_back(it->second);
    }
  const auto rendered = pool.render_all(jobs);
  std::vector<render::RenderResult> results;
  for (size_t j : slot) results.push_back(rendered[j]);
  for (const auto& r : rendered) {
    if (!r.success)
      throw Error("ranking scene " + r.id + " failed to render (" + std::string(render::to_string(r.failure)) +
                  "): " + r.error_line + "\n" + r.stderr_text);
    ++res.renders;
    res.cached += r.cached;
  }
  res.render_s = std::chrono::duration<double>(Clock::now() - t0).count();

  t0 = Clock::now();
  res.metrics = {"S_SSIM", "FVS"};
  // S_CLIP and VS: the lead adds them here once include/mtk/metrics/clip_score.hpp lands: when the
  // CLIP weights are present, push "S_CLIP" and "VS" into res.metrics and fill row.scores["S_CLIP"]
  // and row.scores["VS"] in the loop below (frames.rgb is decoded already); otherwise record them
  // in res.unavailable with the reason.
  res.unavailable = {"S_CLIP (CLIP encoder not wired into the suite yet)", "VS (needs S_CLIP)"};
  video::SampleOptions so;
  so.gray = true;
  so.rgb = true;
  size_t at = 0;
  for (const auto& s : scenes) {
    RankingRow row;
    row.scene = s.name;
    std::vector<video::Frames> f;
    for (int k = 0; k < kVariants; ++k) f.push_back(video::load_frames(results[at + k].output, so));
    at += kVariants;
    for (int k = 0; k < kVariants; ++k) {
      row.frames.push_back(f[k].size());
      row.scores["S_SSIM"].push_back(metrics::s_ssim(f[0].gray, f[k].gray).score);
      row.scores["FVS"].push_back(metrics::s_fg(f[0], f[k]).score);
    }
    for (const auto& m : res.metrics) {
      row.tau[m] = kendall_tau(row.scores[m]);
      res.mean_tau[m] += row.tau[m] / static_cast<double>(scenes.size());
    }
    res.rows.push_back(std::move(row));
  }
  res.metric_s = std::chrono::duration<double>(Clock::now() - t0).count();
  return res;
}

// Markdown: one line per scene and metric with the five scores and tau, then the mean taus.
inline std::string ranking_table(const RankingResult& r) {
  std::string o = "| scene | metric |";
  for (const char* v : kVariantNames) o += std::string(" ") + v + " |";
  o += " Kendall tau |\n|---|---|---:|---:|---:|---:|---:|---:|\n";
  char buf[64];
  for (const auto& row : r.rows)
    for (const auto& m : r.metrics) {
      o += "| " + row.scene + " | " + m + " |";
      for (double v : row.scores.at(m)) {
        std::snprintf(buf, sizeof buf, " %.4f |", v);
        o += buf;
      }
      std::snprintf(buf, sizeof buf, " %.2f |\n", row.tau.at(m));
      o += buf;
    }
  o += "\nmean Kendall tau:";
  for (const auto& m : r.metrics) {
    std::snprintf(buf, sizeof buf, " %s %.3f;", m.c_str(), r.mean_tau.at(m));
    o += buf;
  }
  o += "\n";
  for (const auto& u : r.unavailable) o += "unavailable: " + u + "\n";
  return o;
}

}  // namespace mtk::testing
