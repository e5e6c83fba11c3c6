#include <catch2/catch.hpp>

#include <filesystem>
#include <set>

#include "mtk/core/error.hpp"
#include "mtk/core/fs.hpp"
#include "mtk/data/dataset.hpp"
#include "mtk/data/prompt.hpp"

namespace stdfs = std::filesystem;
using namespace mtk;

TEST_CASE("extract_code follows the paper: <CODE> block first, then a python fence", "[unit]") {
  CHECK(data::extract_code("<CODE>\n```python\nprint(1)\n```\n</CODE>") == "print(1)");
  CHECK(data::extract_code("blah <CODE>\nx = 1\ny = 2\n</CODE> tail") == "x = 1\ny = 2");
  CHECK(data::extract_code("Sure:\n```python\nfrom manim import *\n```\nmore ```python\nother\n```") ==
        "from manim import *");
  CHECK(data::extract_code("```text\nnot code\n```\n```py\ncode\n```") == "code");
  CHECK(data::extract_code("<CODE>\n```python\nunterminated") == "unterminated");
  CHECK(data::extract_code("no code here") == "");
  CHECK(data::extract_code("") == "");
  std::string code = "from manim import *\n\nclass A(Scene):\n    pass";
  CHECK(data::extract_code(data::format_completion(code)) == code);
  CHECK(data::format_user_prompt("Draw a circle.").find("<TEXT_SCRIPT>\nDraw a circle.\n</TEXT_SCRIPT>") !=
        std::string::npos);
}

TEST_CASE("the bundled sample set is complete and well-formed", "[unit]") {
  auto tasks = data::load_dataset("samples", "test");
  REQUIRE(tasks.size() >= 12);
  std::set<std::string> ids, types;
  int latex = 0, three_d = 0;
  for (const auto& t : tasks) {
    ids.insert(t.id);
    types.insert(t.type);
    CHECK(!t.description.empty());
    CHECK(t.code.find("from manim import") != std::string::npos);
    latex += t.code.find("MathTex") != std::string::npos || t.code.find("get_tex") != std::string::npos ||
             t.code.find("DecimalNumber") != std::string::npos;
    three_d += t.code.find("ThreeDScene") != std::string::npos;
  }
  CHECK(ids.size() == tasks.size());
  CHECK(types.count("Basic"));
  CHECK(types.count("Intermediate"));
  CHECK(latex >= 3);
  CHECK(three_d >= 1);
}

TEST_CASE("ManimBench JSONL from ../shared has the published split sizes", "[integration]") {
  auto p = fs::project_root() / "data" / "manimbench" / "manimbench.jsonl";
  if (!stdfs::exists(fs::project_root() / ".." / "shared" / "manimbench")) {
    WARN("../shared/manimbench is absent: the JSONL cannot be built here");
    return;
  }
  REQUIRE(stdfs::exists(p));  // scripts/setup.sh builds it from the parquet files
  auto all = data::load_dataset("manimbench", "all");
  CHECK(all.size() == 416);
  CHECK(data::load_dataset("manimbench", "test").size() == 100);
  CHECK(data::load_dataset("manimbench", "train").size() == 316);
}

TEST_CASE("malformed datasets give errors naming file and line", "[unit]") {
  auto dir = fs::make_temp_dir(stdfs::temp_directory_path(), "mtk-data-");
  fs::atomic_write(dir / "bad.jsonl", "{\"id\": \"a\", \"code\": \"x\"}\n{not json\n");
  CHECK_THROWS_WITH(data::load_jsonl((dir / "bad.jsonl").string()), Catch::Contains("bad.jsonl:2"));
  fs::atomic_write(dir / "noid.jsonl", "{\"code\": \"x\"}\n");
  CHECK_THROWS_WITH(data::load_jsonl((dir / "noid.jsonl").string()), Catch::Contains("id"));
  CHECK_THROWS_AS(data::load_jsonl((dir / "missing.jsonl").string()), Error);
  fs::atomic_write(dir / "ok.jsonl", "{\"id\": 7, \"code\": \"x\", \"split\": \"train\"}\n");
  CHECK_THROWS_WITH(data::load_dataset((dir / "ok.jsonl").string(), "test"), Catch::Contains("split"));
  CHECK(data::load_dataset((dir / "ok.jsonl").string(), "train")[0].id == "7");
  stdfs::remove_all(dir);
}
