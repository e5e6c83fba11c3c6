// The Manim API doc index built from the installed Manim (scripts/build_doc_index.py at set-up).
#include <catch2/catch.hpp>
#include <algorithm>

#include "mtk/agent/doc_index.hpp"
#include "mtk/agent/retriever.hpp"
#include "mtk/core/error.hpp"
#include "mtk/core/fs.hpp"
#include "mtk/render/render.hpp"

using mtk::agent::DocIndex;

namespace {
std::shared_ptr<const DocIndex> the_index() {
  static auto idx = DocIndex::load(DocIndex::default_path());
  return idx;
}
bool contains(const std::vector<std::string>& v, const std::string& s) { return std::find(v.begin(), v.end(), s) != v.end(); }
}  // namespace

TEST_CASE("doc index: built from the installed Manim", "[agent][docs]") {
  auto idx = the_index();
  CHECK(idx->manim_version() == mtk::render::manim_version(mtk::fs::manim_python()));
  CHECK(idx->symbol_count() > 400);
}

TEST_CASE("doc index: classes, inherited methods, properties through instance types, constants", "[agent][docs]") {
  auto idx = the_index();
  auto circle = idx->lookup("Circle");
  REQUIRE(circle);
  CHECK(circle->kind == "class");
  CHECK_THAT(circle->signature, Catch::Contains("radius"));
  CHECK_THAT(circle->doc, Catch::StartsWith("A circle."));
  CHECK(circle->doc.find("Examples") == std::string::npos);

  auto shift = idx->lookup("Circle.shift");
  REQUIRE(shift);
  CHECK(shift->kind == "method");
  CHECK(shift->owner == "Mobject");
  CHECK_THAT(shift->signature, Catch::Contains("*vectors"));

  auto bg = idx->lookup("Scene.camera.background_color");
  REQUIRE(bg);
  CHECK(bg->owner == "Camera");

  auto red = idx->lookup("RED");
  REQUIRE(red);
  CHECK(red->kind == "constant");
  CHECK(red->type == "ManimColor");
  auto interp = idx->lookup("RED.interpolate");
  REQUIRE(interp);
  CHECK(interp->owner == "ManimColor");

  auto smooth = idx->lookup("rate_functions.smooth");
  REQUIRE(smooth);
  CHECK(smooth->kind == "function");

  auto set_color = idx->lookup("Square.set_color");
  REQUIRE(set_color);
  CHECK(!set_color->owner.empty());
}

TEST_CASE("doc index: unknown names get the closest real ones", "[agent][docs]") {
  auto idx = the_index();
  CHECK_FALSE(idx->lookup("Craete"));
  CHECK_FALSE(idx->lookup("Circle.set_colour"));
  CHECK_FALSE(idx->lookup("Circle.shift.nothing"));
  auto s1 = idx->suggest("Craete");
  REQUIRE_FALSE(s1.empty());
  CHECK(s1[0] == "Create");
  CHECK(contains(idx->suggest("Circle.set_colour"), "Circle.set_color"));
  CHECK(contains(idx->suggest("Sqaure"), "Square"));
  CHECK(contains(idx->suggest("MathTeX"), "MathTex"));
  CHECK(contains(idx->suggest("Text.set_colr"), "Text.set_color"));
}

TEST_CASE("doc index: parameter names of a signature", "[agent][docs]") {
  CHECK(DocIndex::parameter_names("(self, radius: 'float | None' = None, color: 'ParsableManimColor' = "
                                  "ManimColor('#FC6255'), **kwargs: 'Any') -> 'None'") ==
        std::vector<std::string>{"radius", "color"});
  CHECK(DocIndex::parameter_names("(mobject, *, a=(1, 2), b: 'dict[str, int]' = {'x': 1}, /)") ==
        std::vector<std::string>{"mobject", "a", "b"});
  CHECK(DocIndex::parameter_names("").empty());
}

TEST_CASE("doc index: a missing or malformed index names the fix", "[agent][docs]") {
  auto dir = mtk::fs::make_temp_dir(std::filesystem::temp_directory_path(), "mtk-docidx-");
  CHECK_THROWS_WITH(DocIndex::load(dir / "none.json"), Catch::Contains("build_doc_index.py"));
  mtk::fs::atomic_write(dir / "bad.json", "{\"format\": 1, \"symbols\": ");
  CHECK_THROWS_WITH(DocIndex::load(dir / "bad.json"), Catch::Contains("not valid JSON"));
  mtk::fs::atomic_write(dir / "old.json", "{\"format\": 7}");
  CHECK_THROWS_WITH(DocIndex::load(dir / "old.json"), Catch::Contains("unknown format"));
  std::filesystem::remove_all(dir);
}

TEST_CASE("render errors name the symbols to document", "[agent][docs]") {
  using mtk::agent::symbols_from_error;
  auto a = symbols_from_error("NameError: name 'Craete' is not defined");
  REQUIRE(a.size() == 1);
  CHECK(a[0].name == "Craete");
  CHECK(a[0].kind == "name");
  auto b = symbols_from_error("AttributeError: 'Circle' object has no attribute 'set_colour'. Did you mean: 'set_color'?");
  REQUIRE(b.size() == 1);
  CHECK(b[0].name == "Circle.set_colour");
  auto c = symbols_from_error("TypeError: Mobject.__init__() got an unexpected keyword argument 'bg_color'");
  REQUIRE(c.size() == 1);
  CHECK(c[0].name == "Mobject");
  CHECK(c[0].keyword == "bg_color");
  auto d = symbols_from_error("TypeError: VMobject.rotate() missing 1 required positional argument: 'angle'");
  REQUIRE(d.size() == 1);
  CHECK(d[0].name == "VMobject.rotate");
  CHECK(d[0].kind == "missing_argument");
  CHECK(symbols_from_error("ZeroDivisionError: division by zero").empty());
}
