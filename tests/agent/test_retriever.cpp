// Call extraction and retrieval on real code: the ManimBench references and injected mistakes.
#include <catch2/catch.hpp>
#include <algorithm>
#include <map>

#include "../llm/peer.hpp"
#include "mtk/agent/doc_index.hpp"
#include "mtk/agent/retriever.hpp"
#include "mtk/data/dataset.hpp"

using namespace mtk::agent;

namespace {
std::shared_ptr<const DocIndex> the_index() {
  static auto idx = DocIndex::load(DocIndex::default_path());
  return idx;
}
bool has(const std::vector<std::string>& v, const std::string& s) { return std::find(v.begin(), v.end(), s) != v.end(); }
}  // namespace

TEST_CASE("extraction follows the paper's rules", "[agent][retriever]") {
  const char* code = R"(from manim import *
import numpy as np

def helper(x):
    return x * 2

class Demo(MovingCameraScene):
    def construct(self):
        self.camera.background_color = WHITE
        b1 = Brace(Line(LEFT, RIGHT), DOWN)
        b1.shift(UP * helper(1))
        label = b1.get_text("x")
        sq = Square().set_fill(RED, opacity=0.5)
        dots = VGroup(*[Dot(point=np.array([i, 0, 0])) for i in range(3)])
        for d in dots:
            d.set_color(YELLOW)
        self.play(Create(sq), FadeIn(label), run_time=2, rate_func=rate_functions.smooth)
        self.play(self.camera.frame.animate.scale(0.5))
        self.wait()
)";
  auto n = extract_api_names(code);
  INFO("calls: " << Catch::Detail::stringify(n.calls) << "\naccesses: " << Catch::Detail::stringify(n.accesses));
  for (const char* c : {"Brace", "Line", "Brace.shift", "Brace.get_text", "Square", "Square.set_fill", "VGroup", "Dot",
                        "Create", "FadeIn", "MovingCameraScene.camera.frame.animate.scale"})
    CHECK(has(n.calls, c));
  CHECK(has(n.accesses, "MovingCameraScene.camera.background_color"));
  CHECK(has(n.accesses, "rate_functions.smooth"));
  // dropped: builtins, numpy, Scene plumbing, the code's own function and class, loop variables
  for (const char* c : {"range", "np.array", "MovingCameraScene.play", "MovingCameraScene.wait", "helper", "Demo",
                        "d.set_color", "print"})
    CHECK_FALSE(has(n.calls, c));
  CHECK(extract_api_names("").calls.empty());
  // Code that does not parse still yields the calls of the parts that do.
  auto broken = extract_api_names("from manim import *\nclass A(Scene):\n    def construct(self):\n        c = Circle(\n        self.play(Write(Text('x')))\n");
  CHECK(has(broken.calls, "Text"));
}

TEST_CASE("every Manim name in the ManimBench references resolves", "[agent][retriever]") {
  auto tasks = mtk::data::load_dataset(mtk::test::manimbench_path().string(), "all");
  REQUIRE(tasks.size() > 400);
  auto idx = the_index();
  size_t names = 0, manim_names = 0;
  std::map<std::string, int> unresolved, other;
  for (const auto& t : tasks) {
    auto n = extract_api_names(t.code);
    for (const auto* list : {&n.calls, &n.accesses})
      for (const auto& name : *list) {
        ++names;
        std::string root = name.substr(0, name.find('.'));
        if (!idx->knows_root(root)) {  // not a Manim name: a variable of unknown class, a non-Manim module
          ++other[root];
          continue;
        }
        ++manim_names;
        if (!idx->lookup(name)) ++unresolved[name];
      }
  }
  std::string list;
  for (const auto& [n, k] : unresolved) list += n + " x" + std::to_string(k) + "\n";
  INFO(manim_names << " Manim names of " << names << " extracted; unresolved:\n" << list);
  CHECK(manim_names > 1500);
  CHECK(unresolved.empty());
}

TEST_CASE("hallucinated names are flagged with sensible suggestions", "[agent][retriever]") {
  Retriever r(the_index());
  const char* code = R"(from manim import *
class S(Scene):
    def construct(self):
        t = MathTeX("x^2")
        c = Circle()
        c.rotatee(PI)
        self.play(Craete(c), FadeInn(t))
        self.play(c.animate.shiftt(UP))
)";
  auto res = r.retrieve(code);
  INFO(res.api_info);
  for (const char* bad : {"MathTeX", "Craete", "FadeInn", "Circle.rotatee"}) CHECK(has(res.undocumented, bad));
  CHECK(has(res.documented, "Circle"));
  CHECK_THAT(res.api_info, Catch::Contains("NO DOCUMENTATION AVAILABLE FOR `Craete`. Refer to the render errors (if any) "
                                           "for details. Closest real names: `Create`"));
  CHECK_THAT(res.api_info, Catch::Contains("NO DOCUMENTATION AVAILABLE FOR `MathTeX`"));
  CHECK_THAT(res.api_info, Catch::Contains("`MathTex`"));
  CHECK_THAT(res.api_info, Catch::Contains("`FadeIn`"));
  CHECK_THAT(res.api_info, Catch::Contains("`Circle.rotate`"));
  // The paper's retriever only flags them.
  RetrieverOptions plain;
  plain.suggestions = false;
  auto bare = Retriever(the_index(), plain).retrieve(code);
  CHECK(bare.api_info.find("Closest real names") == std::string::npos);
}

TEST_CASE("error-driven retrieval documents the symbol the render error names first", "[agent][retriever]") {
  RetrieverOptions o;
  o.error_docs = true;
  Retriever r(the_index(), o);
  const char* code = "from manim import *\nclass S(Scene):\n    def construct(self):\n        self.add(Square(bg_color=RED))\n";
  auto res = r.retrieve(code, "TypeError: Mobject.__init__() got an unexpected keyword argument 'bg_color'");
  INFO(res.api_info);
  CHECK_THAT(res.api_info, Catch::StartsWith("- RENDER ERROR: `Mobject` has no parameter `bg_color`"));
  CHECK_THAT(res.api_info, Catch::Contains("`color`"));
  CHECK(has(res.error_symbols, "Mobject"));
  auto name = r.retrieve("x = Craete(Circle())", "NameError: name 'Craete' is not defined");
  CHECK_THAT(name.api_info, Catch::StartsWith("- RENDER ERROR: `Craete` does not exist"));
  CHECK_THAT(name.api_info, Catch::Contains("- **Create**: signature"));
  // Off (the paper): no error section.
  auto off = Retriever(the_index()).retrieve(code, "TypeError: Mobject.__init__() got an unexpected keyword argument 'bg_color'");
  CHECK(off.api_info.find("RENDER ERROR") == std::string::npos);
}
