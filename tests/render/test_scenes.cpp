#include <catch2/catch.hpp>

#include "mtk/render/scenes.hpp"

using namespace mtk::render;
using V = std::vector<std::string>;

TEST_CASE("detect_scenes finds direct and indirect Scene subclasses in source order", "[unit][render]") {
  const std::string code = R"(from manim import *
import manim as m

class Helper:
    pass

class Base(Scene):
    def setup(self): pass

class First(Base):
    def construct(self): pass

class Second(m.ThreeDScene):
    pass

class Third(MovingCameraScene, Helper): pass
class Fourth(ZoomedScene): pass
class Fifth(VectorScene): pass
class Sixth(LinearTransformationScene): pass
class Seventh(SpecialThreeDScene): pass
class Eighth(SomeImportedScene): pass
class NotAScene(Helper): pass
)";
  CHECK(detect_scenes(code) == V{"Base", "First", "Second", "Third", "Fourth", "Fifth", "Sixth", "Seventh", "Eighth"});
  CHECK(choose_scene(code) == "Eighth");
}

TEST_CASE("detect_scenes ignores comments, strings, nested and non-top-level classes", "[unit][render]") {
  const std::string code = R"PY(from manim import *
# class Commented(Scene):
s = """
class InString(Scene):
    pass
"""
t = 'class InSingle(Scene):'
u = rb'\'class Raw(Scene):'
def f():
    class Nested(Scene):
        pass

@decorator
@other(arg=")")
class Decorated(  # comment inside the header
        Scene,
        metaclass=Meta,
):
    class Inner(Scene):
        pass
    def construct(self):
        x = f"class Fake(Scene): {1}"
)PY";
  CHECK(detect_scenes(code) == V{"Decorated"});
  auto classes = scan_classes(code);
  REQUIRE(classes.size() == 1);
  CHECK(classes[0].line == 15);
  CHECK(classes[0].bases == V{"Scene"});
}

TEST_CASE("choose_scene skips helper bases and handles edge cases", "[unit][render]") {
  CHECK(choose_scene("class Main(Scene):\n    pass\nclass Helper(Scene):\n    pass\nclass Derived(Helper):\n    pass\n") ==
        "Derived");
  // The base is defined after its user: still a base.
  CHECK(choose_scene("class A(B):\n  pass\nclass B(Scene):\n  pass\n") == "A");
  CHECK(choose_scene("class A(Scene): pass\r\nclass B(Scene): pass\r\n") == "B");
  CHECK(choose_scene("") == "");
  CHECK(choose_scene("print('hello')\n") == "");
  CHECK(detect_scenes("class A(Generic[T], Scene): pass\n") == V{"A"});
  CHECK(detect_scenes("class A \\\n  (Scene):\n  pass\n") == V{"A"});
  CHECK(detect_scenes("class Broken(Scene\n") == V{});
  CHECK(detect_scenes("class A(Scene)") == V{});  // no colon
  CHECK(detect_scenes("x = '''unterminated\nclass A(Scene): pass\n") == V{});
  CHECK(detect_scenes("class A(Scene):\n  s = '\xff\xfe'\n") == V{"A"});
  // A local class that merely ends in "Scene" but is not one.
  CHECK(detect_scenes("class MyScene:\n  pass\nclass A(MyScene):\n  pass\n") == V{});
  // Redefinition: listed once, at its last definition.
  CHECK(detect_scenes("class A(Scene): pass\nclass B(Scene): pass\nclass A(Scene): pass\n") == V{"B", "A"});
}
