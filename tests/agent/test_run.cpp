// `manim-agent run` as a library call: output folder, transcripts, resume.
#include <catch2/catch.hpp>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "background.hpp"
#include "mtk/agent/run.hpp"
#include "mtk/core/fs.hpp"
#include "mtk/core/jsonl.hpp"

namespace stdfs = std::filesystem;
using mtk::test::BackgroundProcess;

TEST_CASE("run: a dataset split with transcripts, videos and a resumable results file", "[agent][run]") {
  const stdfs::path dir = mtk::fs::make_temp_dir(stdfs::temp_directory_path(), "mtk-run-");
  const std::string broken =
      "<CODE>\n```python\nfrom manim import *\n\nclass B(Scene):\n    def construct(self):\n        "
      "self.play(Craete(Circle()))\n```\n</CODE>";
  const std::string fixed =
      "<CODE>\n```python\nfrom manim import *\n\nclass F(Scene):\n    def construct(self):\n        "
      "self.play(Create(Circle()))\n```\n</CODE>";
  mtk::fs::atomic_write(dir / "answers.json", nlohmann::json({broken, fixed, broken, fixed}).dump());
  BackgroundProcess srv({"python3", (stdfs::path(__FILE__).parent_path() / "openai_test_server.py").string(), "script",
                         (dir / "answers.json").string()},
                        "PORT");
  mtk::agent::RunOptions o;
  o.base_url = "http://127.0.0.1:" + std::to_string(srv.port_after("PORT ")) + "/v1";
  o.model = "scripted";
  o.api_key_env = "";
  o.dataset = "samples";
  o.split = "test";
  o.limit = 2;
  o.agent.strategy = mtk::agent::Strategy::ritl;
  o.out_dir = (dir / "out").string();
  o.quiet = true;
  auto sum = mtk::agent::run_agent(o);
  CHECK(sum.tasks == 2);
  CHECK(sum.rendered == 2);
  CHECK(sum.llm_calls == 4);
  CHECK(sum.resumed == 0);
  for (const char* f : {"config.json", "results.jsonl", "predictions.jsonl", "tasks.jsonl", "summary.md"})
    CHECK(stdfs::exists(dir / "out" / f));
  for (const auto& r : sum.runs) {
    CHECK(stdfs::exists(r.video));
    CHECK(stdfs::path(r.video).parent_path() == dir / "out" / "videos");
    size_t lines = 0;
    mtk::read_jsonl((dir / "out" / "transcripts" / (r.id + ".jsonl")).string(), "transcript",
                    [&](const nlohmann::json& j, size_t) {
                      ++lines;
                      CHECK(j.contains("messages"));
                      CHECK(j.contains("feedback"));
                    });
    CHECK(lines == 2);
  }
  // Run again: everything is resumed, no request is made.
  auto again = mtk::agent::run_agent(o);
  CHECK(again.resumed == 2);
  CHECK(again.llm_calls == 4);  // the totals come from the results file
  // A different strategy setting is a different run: its tasks are not taken from the old results.
  o.agent.rounds = 1;
  o.resume = true;
  auto changed = mtk::agent::run_agent(o);
  CHECK(changed.resumed == 0);
  stdfs::remove_all(dir);
}

TEST_CASE("run: bad requests are clear errors", "[agent][run]") {
  mtk::agent::RunOptions o;
  o.base_url = "http://127.0.0.1:1/v1";
  CHECK_THROWS_WITH(mtk::agent::run_agent(o), Catch::Contains("pass --task"));
  o.task = "x";
  o.dataset = "samples";
  CHECK_THROWS_WITH(mtk::agent::run_agent(o), Catch::Contains("either --task or --dataset"));
  o.task.clear();
  o.ids = {"nope"};
  CHECK_THROWS_WITH(mtk::agent::run_agent(o), Catch::Contains("task id 'nope'"));
}
