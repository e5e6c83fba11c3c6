// `manim-agent run` as a library call: output folder, transcripts, resume.
// libtorch's headers (through mtk/llm) define glog's CHECK: they come before Catch, whose CHECK must win.
#include "mtk/llm/generate.hpp"
#include "mtk/llm/lora.hpp"
#include "mtk/llm/model.hpp"

#include <catch2/catch.hpp>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "../core/run_meta_check.hpp"
#include "../llm/peer.hpp"
#include "background.hpp"
#include "mtk/agent/run.hpp"
#include "mtk/core/fs.hpp"
#include "mtk/core/hash.hpp"
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
  CHECK(nlohmann::json::parse(mtk::fs::read_file(dir / "out" / "run_meta.json"))["previous"].size() == 1);
  CHECK(again.llm_calls == 4);  // the totals come from the results file
  // --limit only selects tasks: a shorter (or longer) run over the same split reuses what is done.
  o.limit = 1;
  auto fewer = mtk::agent::run_agent(o);
  CHECK(fewer.tasks == 1);
  CHECK(fewer.resumed == 1);
  CHECK(fewer.llm_calls == 2);
  o.limit = 2;
  // A different strategy setting is a different run: its tasks are not taken from the old results.
  o.agent.rounds = 1;
  o.resume = true;
  auto changed = mtk::agent::run_agent(o);
  CHECK(changed.resumed == 0);
  stdfs::remove_all(dir);
}

TEST_CASE("run: run_meta.json with a local model names its sha256, the revision and the versions", "[agent][run]") {
  const stdfs::path dir = mtk::fs::make_temp_dir(stdfs::temp_directory_path(), "mtk-run-meta-");
  mtk::agent::RunOptions o;
  o.model = mtk::test::smollm2_path().string();
  o.threads = 2;
  o.task = "Draw a blue circle.";
  o.agent.sampling.max_tokens = 4;
  o.out_dir = (dir / "out").string();
  o.quiet = true;
  auto sum = mtk::agent::run_agent(o);
  CHECK(sum.tasks == 1);
  const auto meta = nlohmann::json::parse(mtk::fs::read_file(dir / "out" / "run_meta.json"));
  mtk::test::check_run_meta(meta, "manim-agent run");
  CHECK(meta["config"]["strategy"] == "vanilla");
  CHECK(meta["config"]["max_tokens"] == 4);
  CHECK(meta["config"]["threads"] == 2);
  REQUIRE(meta["models"].size() == 1);
  CHECK(meta["models"][0]["role"] == "model");
  CHECK(meta["models"][0]["sha256"] == mtk::sha256_hex(mtk::fs::read_file(mtk::test::smollm2_path())));
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
  o.ids.clear();
  o.adapter = "runs/x/adapter.gguf";
  CHECK_THROWS_WITH(mtk::agent::run_agent(o), Catch::Contains("--adapter applies to a local model"));
}

TEST_CASE("manim-agent generate --adapter: a peft directory and its GGUF export answer alike", "[agent][adapter]") {
  // The peft fixture (tests/train/fixtures/peft_smollm2: transformers + peft, r=2 on q/k/v of SmolLM2)
  // and the same adapter exported as a llama.cpp LoRA GGUF give the same greedy text on the base;
  // without an adapter the text differs (the adapter moves the logits by several units).
  const auto fix = mtk::fs::project_root() / "tests/train/fixtures/peft_smollm2/adapter";
  const auto dir = mtk::fs::make_temp_dir(stdfs::temp_directory_path(), "mtk-adapter-");
  const std::string gguf = (dir / "adapter.gguf").string();
  {
    auto lm = mtk::llm::LanguageModel::load(mtk::test::smollm2_path().string());
    lm->load_adapter(fix.string());
    lm->model().adapter()->save_gguf(gguf);
  }
  const std::string exe = (mtk::test::build_dir() / "manim-agent").string();
  auto gen = [&](const std::string& adapter) {
    std::string cmd = mtk::test::quote(exe) + " generate -m " + mtk::test::quote(mtk::test::smollm2_path().string()) +
                      " --chat -p 'Draw a blue circle with Manim.' -n 24 -t 0 --threads 2";
    if (!adapter.empty()) cmd += " --adapter " + mtk::test::quote(adapter);
    return mtk::test::run_checked(cmd + " 2>/dev/null");
  };
  const std::string base = gen(""), with_peft = gen(fix.string()), with_gguf = gen(gguf);
  INFO("base: " << base << "\npeft: " << with_peft << "\ngguf: " << with_gguf);
  CHECK(with_peft == with_gguf);
  CHECK(with_peft != base);
  CHECK(with_peft.size() > 10);
  stdfs::remove_all(dir);
}
