#include <catch2/catch.hpp>
#include <filesystem>

#include "mtk/agent/prompts.hpp"
#include "mtk/core/error.hpp"
#include "mtk/core/fs.hpp"

namespace stdfs = std::filesystem;

TEST_CASE("the paper's prompt set loads with its tags", "[agent][prompts]") {
  auto p = mtk::agent::load_prompt_set();
  CHECK_THAT(p.generate.system, Catch::StartsWith("You are an expert Manim Community Edition (ManimCE) educator"));
  CHECK_THAT(p.generate.user, Catch::Contains("<TEXT_SCRIPT>\n{description}\n</TEXT_SCRIPT>"));
  CHECK_THAT(p.fix.user, Catch::Contains("<RENDER_ERRORS>"));
  CHECK_THAT(p.fix.user, Catch::Contains("<INITIAL_CODE>"));
  CHECK_THAT(p.doc_rewrite.user, Catch::Contains("<API_INFO>"));
  CHECK_THAT(p.doc_fix.user, Catch::Contains("{api_info}"));
  CHECK_THAT(p.doc_fix.user, Catch::Contains("{render_errors}"));
  for (const auto* s : {&p.generate, &p.fix, &p.doc_rewrite, &p.doc_fix}) {
    CHECK_THAT(s->system, Catch::Contains("<CODE>"));
    CHECK(s->user.back() != '\n');
  }
}

TEST_CASE("fill_template substitutes once and leaves code braces alone", "[agent][prompts]") {
  using mtk::agent::fill_template;
  CHECK(fill_template("a {description} b", {{"description", "X {initial_code} {y}"}}) == "a X {initial_code} {y} b");
  CHECK(fill_template("d = {'k': 1} {description}", {{"description", "z"}}) == "d = {'k': 1} z");
  CHECK_THROWS_WITH(fill_template("{api_info}", {{"description", "z"}}), Catch::Contains("{api_info}"));
  auto msgs = mtk::agent::stage_messages({"sys", "user {description}"}, {{"description", "draw"}});
  REQUIRE(msgs.size() == 2);
  CHECK(msgs[0].role == "system");
  CHECK(msgs[1].content == "user draw");
}

TEST_CASE("a prompt set with a missing file names it", "[agent][prompts]") {
  auto dir = mtk::fs::make_temp_dir(stdfs::temp_directory_path(), "mtk-prompts-");
  for (const char* f : {"generate.system.txt", "generate.user.txt", "fix.system.txt", "fix.user.txt"})
    mtk::fs::atomic_write(dir / f, "x\n");
  CHECK_THROWS_WITH(mtk::agent::load_prompt_set(dir), Catch::Contains("doc_rewrite.system.txt"));
  CHECK_THROWS_WITH(mtk::agent::load_prompt_set(dir / "nope"), Catch::Contains("not found"));
  stdfs::remove_all(dir);
}
