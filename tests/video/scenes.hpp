#pragma once
// Small trusted Manim scenes used as real-video fixtures by the video and metrics tests and the
// SSIM benchmark. Each entry is one scene file; variants change one thing (colour, position,
// timing, background, resolution) so the SSIM between them is neither 0 nor 1.
#include <string>
#include <vector>

namespace mtk::testing {

struct SceneSpec {
  std::string name;   // fixture name used in test output
  std::string scene;  // Scene class
  std::string code;   // the whole Python file
  std::vector<std::string> args;  // extra manim arguments
};

inline std::string manim_file(const std::string& body) { return "from manim import *\n\n" + body; }

// Square -> circle, parameterised.
inline std::string square_code(const std::string& color, const std::string& shift, double run_time) {
  return manim_file("class SquareToCircle(Scene):\n"
                    "    def construct(self):\n"
                    "        s = Square(color=" + color + ", fill_opacity=0.6).shift(" + shift + ")\n"
                    "        self.play(Create(s), run_time=" + std::to_string(run_time) + ")\n"
                    "        self.play(Transform(s, Circle(color=" + color + ", fill_opacity=0.6).shift(" + shift +
                    ")), run_time=" + std::to_string(run_time) + ")\n");
}

inline std::string text_code(const std::string& text, const std::string& color) {
  return manim_file("class Hello(Scene):\n"
                    "    def construct(self):\n"
                    "        t = Text(\"" + text + "\", color=" + color + ", font_size=72)\n"
                    "        self.play(Write(t), run_time=1)\n"
                    "        self.play(t.animate.shift(UP * 1.5), run_time=0.6)\n");
}

inline std::string graph_code(const std::string& fn, const std::string& color) {
  return manim_file("class Plot(Scene):\n"
                    "    def construct(self):\n"
                    "        ax = Axes(x_range=[-3, 3, 1], y_range=[-1.5, 1.5, 0.5], x_length=8, y_length=4, tips=False)\n"
                    "        g = ax.plot(lambda x: " + fn + ", color=" + color + ")\n"
                    "        self.play(Create(ax), run_time=0.6)\n"
                    "        self.play(Create(g), run_time=1)\n");
}

inline std::string dots_code(const std::string& direction, const std::string& background) {
  return manim_file("class Dots(Scene):\n"
                    "    def construct(self):\n" +
                    (background.empty() ? std::string() : "        self.camera.background_color = " + background + "\n") +
                    "        dots = VGroup(*[Dot(radius=0.15, color=c) for c in [RED, GREEN, BLUE, YELLOW]])\n"
                    "        dots.arrange(RIGHT, buff=1)\n"
                    "        self.add(dots)\n"
                    "        self.play(dots.animate.shift(" + direction + " * 2), run_time=1)\n"
                    "        self.play(Rotate(dots, PI / 2), run_time=0.6)\n");
}

inline std::string arrow_code(const std::string& color, double angle) {
  return manim_file("class Arrows(Scene):\n"
                    "    def construct(self):\n"
                    "        a = Arrow(LEFT * 3, RIGHT * 3, color=" + color + ")\n"
                    "        self.play(GrowArrow(a), run_time=0.8)\n"
                    "        self.play(Rotate(a, " + std::to_string(angle) + "), run_time=0.8)\n"
                    "        self.wait(0.4)\n");
}

inline std::string star_code(const std::string& color, int points) {
  return manim_file("class Stars(Scene):\n"
                    "    def construct(self):\n"
                    "        s = Star(n=" + std::to_string(points) + ", outer_radius=2, color=" + color +
                    ", fill_opacity=0.8)\n"
                    "        self.play(DrawBorderThenFill(s), run_time=1)\n"
                    "        self.play(s.animate.scale(0.5).shift(RIGHT * 2), run_time=0.6)\n");
}

inline std::string still_code(const std::string& color) {
  return manim_file("class Still(Scene):\n"
                    "    def construct(self):\n"
                    "        self.add(Circle(radius=1.5, color=" + color + ", fill_opacity=0.5))\n"
                    "        self.add(Square(side_length=1, color=WHITE).shift(RIGHT * 3))\n");
}

// A 10 s scene for the benchmark: objects keep moving, so few frames repeat.
inline std::string long_code(const std::string& color, const std::string& direction) {
  return manim_file("class Long(Scene):\n"
                    "    def construct(self):\n"
                    "        sq = Square(color=" + color + ", fill_opacity=0.5)\n"
                    "        ci = Circle(color=WHITE).shift(" + direction + " * 3)\n"
                    "        tri = Triangle(color=GREEN, fill_opacity=0.4).shift(-" + direction + " * 3)\n"
                    "        self.play(Create(sq), Create(ci), Create(tri), run_time=2)\n"
                    "        self.play(Rotate(sq, PI), ci.animate.shift(-" + direction + " * 2), run_time=2)\n"
                    "        self.play(sq.animate.scale(1.5), tri.animate.rotate(PI / 3), run_time=2)\n"
                    "        self.play(Transform(sq, Circle(color=" + color + ", fill_opacity=0.5)), run_time=2)\n"
                    "        self.play(sq.animate.shift(" + direction + " * 2), FadeOut(tri), run_time=2)\n");
}

// The fixture set: at least 6 distinct scenes with edited variants and a still.
inline std::vector<SceneSpec> fixture_scenes() {
  return {
      {"square", "SquareToCircle", square_code("BLUE", "ORIGIN", 1.0), {}},
      {"square_red", "SquareToCircle", square_code("RED", "ORIGIN", 1.0), {}},
      {"square_shift", "SquareToCircle", square_code("BLUE", "LEFT * 2", 1.0), {}},
      {"square_slow", "SquareToCircle", square_code("BLUE", "ORIGIN", 1.6), {}},
      {"square_small", "SquareToCircle", square_code("BLUE", "ORIGIN", 1.0), {"-r", "640,360"}},
      {"text", "Hello", text_code("Hello Manim", "WHITE"), {}},
      {"text_other", "Hello", text_code("Goodbye SSIM", "YELLOW"), {}},
      {"graph_sin", "Plot", graph_code("np.sin(x)", "BLUE"), {}},
      {"graph_cos", "Plot", graph_code("np.cos(x)", "ORANGE"), {}},
      {"dots", "Dots", dots_code("UP", ""), {}},
      {"dots_down", "Dots", dots_code("DOWN", ""), {}},
      {"dots_white", "Dots", dots_code("UP", "WHITE"), {}},
      {"arrow", "Arrows", arrow_code("GREEN", 1.5707963), {}},
      {"arrow_other", "Arrows", arrow_code("PURPLE", -0.8), {}},
      {"star", "Stars", star_code("GOLD", 5), {}},
      {"star_seven", "Stars", star_code("TEAL", 7), {}},
      {"still", "Still", still_code("RED"), {}},
  };
}

}  // namespace mtk::testing
