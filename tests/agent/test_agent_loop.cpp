// The strategies end to end with the real sandboxed renderer: driven by a real HTTP server that
// replays known answers (so the loop's control flow is checked exactly), and by the real default
// model (SmolLM2-135M-Instruct) in-process.
#include <catch2/catch.hpp>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "../llm/peer.hpp"
#include "background.hpp"
#include "mtk/agent/agent.hpp"
#include "mtk/agent/doc_index.hpp"
#include "mtk/agent/retriever.hpp"
#include "mtk/core/fs.hpp"
#include "mtk/llm/generate.hpp"
#include "mtk/render/cache.hpp"
#include "mtk/render/render.hpp"

using namespace mtk::agent;
using mtk::test::BackgroundProcess;
namespace stdfs = std::filesystem;

namespace {

const char* kBroken = R"(from manim import *

class Broken(Scene):
    def construct(self):
        c = Circle(color=BLUE)
        c.shiftt(UP)
        self.play(Craete(c))
)";
const char* kFixed = R"(from manim import *

class Fixed(Scene):
    def construct(self):
        c = Circle(color=BLUE)
        self.play(Create(c))
)";

std::string answer(const std::string& code) { return "<CODE>\n```python\n" + code + "```\n</CODE>"; }

// A scripted OpenAI-compatible server process answering with `answers` in order.
struct Scripted {
  stdfs::path file;
  std::unique_ptr<BackgroundProcess> proc;
  std::unique_ptr<ChatBackend> backend;
  explicit Scripted(const std::vector<std::string>& answers) {
    file = mtk::fs::make_temp_dir(stdfs::temp_directory_path(), "mtk-script-") / "answers.json";
    mtk::fs::atomic_write(file, nlohmann::json(answers).dump());
    proc = std::make_unique<BackgroundProcess>(
        std::vector<std::string>{"python3", (stdfs::path(__FILE__).parent_path() / "openai_test_server.py").string(),
                                 "script", file.string()},
        "PORT");
    HttpBackendOptions o;
    o.base_url = "http://127.0.0.1:" + std::to_string(proc->port_after("PORT ")) + "/v1";
    o.api_key_env = "";
    backend = make_http_backend(o);
  }
  ~Scripted() { stdfs::remove_all(file.parent_path()); }
};

mtk::render::Renderer& renderer() {
  static mtk::render::Renderer r({}, std::make_shared<mtk::render::RenderCache>());
  return r;
}

std::shared_ptr<const Retriever> retriever() {
  static auto r = std::make_shared<const Retriever>(DocIndex::load(DocIndex::default_path()));
  return r;
}

AgentOptions opts(Strategy s, int rounds) {
  AgentOptions o;
  o.strategy = s;
  o.rounds = rounds;
  return o;
}

const char* kTask = "Draw a blue circle in the centre of the screen.";

}  // namespace

TEST_CASE("ritl feeds the render error back and stops at the first success", "[agent][loop]") {
  Scripted srv({answer(kBroken), answer(kFixed), answer(kBroken)});
  Agent agent(*srv.backend, renderer(), load_prompt_set(), opts(Strategy::ritl, 3));
  TaskRun run = agent.run("t1", kTask);
  REQUIRE(run.rounds.size() == 2);  // broken, then fixed: the third answer is never asked for
  CHECK(run.llm_calls == 2);
  CHECK(run.renders == 2);
  CHECK(run.success);
  CHECK(run.failure == "none");
  CHECK(run.final_code.find("class Fixed") != std::string::npos);
  CHECK(stdfs::exists(run.video));

  const Round& r0 = run.rounds[0];
  CHECK(r0.stage == "generate");
  CHECK_FALSE(r0.success);
  CHECK(r0.failure == "attribute");  // shiftt fails before Craete is reached
  CHECK_THAT(r0.feedback, Catch::Contains("AttributeError"));
  CHECK_THAT(r0.messages.back().content, Catch::Contains("<TEXT_SCRIPT>\n" + std::string(kTask)));

  const Round& r1 = run.rounds[1];
  CHECK(r1.stage == "fix");
  const std::string& prompt = r1.messages.back().content;
  CHECK_THAT(prompt, Catch::Contains("<RENDER_ERRORS>\n```text\n" + r0.feedback + "\n```\n</RENDER_ERRORS>"));
  CHECK_THAT(prompt, Catch::Contains("<INITIAL_CODE>\n```python\n" + r0.code + "\n```"));
  CHECK(r1.success);
}

TEST_CASE("ritl respects the number of rounds", "[agent][loop]") {
  Scripted srv({answer(kBroken)});
  Agent agent(*srv.backend, renderer(), load_prompt_set(), opts(Strategy::ritl, 2));
  TaskRun run = agent.run("t2", kTask);
  CHECK(run.rounds.size() == 3);  // the first answer and two corrections
  CHECK(run.renders == 3);
  CHECK_FALSE(run.success);
  for (size_t i = 1; i < run.rounds.size(); ++i) CHECK(run.rounds[i].stage == "fix");

  Agent vanilla(*srv.backend, renderer(), load_prompt_set(), opts(Strategy::vanilla, 3));
  TaskRun v = vanilla.run("t3", kTask);
  CHECK(v.rounds.size() == 1);
  CHECK(v.llm_calls == 1);
}

TEST_CASE("an answer without code is a failure whose feedback asks for <CODE>", "[agent][loop]") {
  Scripted srv({"I would draw a circle.", answer(kFixed)});
  Agent agent(*srv.backend, renderer(), load_prompt_set(), opts(Strategy::ritl, 3));
  TaskRun run = agent.run("t4", kTask);
  REQUIRE(run.rounds.size() == 2);
  CHECK(run.rounds[0].failure == "no_code");
  CHECK_THAT(run.rounds[1].messages.back().content, Catch::Contains("between <CODE> and </CODE>"));
  CHECK(run.success);
}

TEST_CASE("ritl-doc rewrites with the documentation of the code's calls before rendering", "[agent][loop]") {
  Scripted srv({answer(kBroken), answer(kBroken), answer(kFixed)});
  Agent agent(*srv.backend, renderer(), load_prompt_set(), opts(Strategy::ritl_doc, 3), retriever());
  TaskRun run = agent.run("t5", kTask);
  REQUIRE(run.rounds.size() == 3);
  CHECK(run.rounds[0].stage == "generate");
  CHECK_FALSE(run.rounds[0].rendered);
  const Round& rw = run.rounds[1];
  CHECK(rw.stage == "doc_rewrite");
  CHECK(rw.rendered);
  CHECK_THAT(rw.messages.back().content, Catch::Contains("<API_INFO>"));
  CHECK_THAT(rw.api_info, Catch::Contains("- **Circle**: signature `(radius"));
  CHECK_THAT(rw.api_info, Catch::Contains("NO DOCUMENTATION AVAILABLE FOR `Craete`"));
  CHECK_THAT(rw.api_info, Catch::Contains("`Create`"));
  CHECK_THAT(rw.api_info, Catch::Contains("NO DOCUMENTATION AVAILABLE FOR `Circle.shiftt`"));
  CHECK_THAT(rw.api_info, Catch::Contains("`Circle.shift`"));
  CHECK(std::find(rw.undocumented.begin(), rw.undocumented.end(), "Craete") != rw.undocumented.end());
  const Round& fx = run.rounds[2];
  CHECK(fx.stage == "doc_fix");
  CHECK_THAT(fx.messages.back().content, Catch::Contains("<RENDER_ERRORS>"));
  CHECK_THAT(fx.messages.back().content, Catch::Contains("<API_INFO>"));
  CHECK(run.success);
  CHECK(run.llm_calls == 3);
}

TEST_CASE("the real default model: a failed first answer gets its error back in a second round",
          "[agent][loop][model]") {
  auto lm = std::shared_ptr<const mtk::llm::LanguageModel>(
      mtk::llm::LanguageModel::load(mtk::test::smollm2_path().string()));
  auto backend = make_local_backend(lm);
  AgentOptions o = opts(Strategy::ritl_doc, 1);
  o.sampling.max_tokens = 160;
  Agent agent(*backend, renderer(), load_prompt_set(), o, retriever());
  TaskRun run = agent.run("smol", "Create a red square and rotate it by 90 degrees.");
  REQUIRE(run.rounds.size() >= 2);
  const Round& r0 = run.rounds[0];
  const Round& rw = run.rounds[1];
  CHECK(rw.stage == "doc_rewrite");
  // The documentation in the rewrite prompt is exactly what the retriever finds for the first code.
  Retrieval expected = retriever()->retrieve(r0.code);
  CHECK(rw.api_info == (expected.api_info.empty() ? "NONE" : expected.api_info));
  CHECK_THAT(rw.messages.back().content, Catch::Contains("<API_INFO>\n```text\n" + rw.api_info + "\n```"));
  INFO("first answer: " << r0.completion);
  INFO("rewrite: " << rw.completion);
  if (rw.success) {
    CHECK(run.rounds.size() == 2);  // stopped at the first success
  } else {
    REQUIRE(run.rounds.size() == 3);  // K = 1 correction
    const Round& fx = run.rounds[2];
    CHECK(fx.stage == "doc_fix");
    CHECK_THAT(fx.messages.back().content, Catch::Contains(rw.feedback));
    CHECK(fx.prompt_tokens > rw.prompt_tokens / 2);
    CHECK(fx.completion_tokens > 0);
  }
  CHECK(run.generation_s > 0);
}
