#include "mtk/agent/agent.hpp"

#include <chrono>
#include <functional>
#include <nlohmann/json.hpp>

#include "mtk/agent/retriever.hpp"
#include "mtk/core/error.hpp"
#include "mtk/core/timing.hpp"
#include "mtk/data/prompt.hpp"
#include "mtk/render/render.hpp"

namespace mtk::agent {

using json = nlohmann::json;

Strategy strategy_from_string(std::string_view s) {
  if (s == "vanilla" || s == "base") return Strategy::vanilla;
  if (s == "ritl" || s == "fb") return Strategy::ritl;
  if (s == "ritl-doc" || s == "ritl_doc" || s == "rag_fb") return Strategy::ritl_doc;
  throw Error("unknown strategy '" + std::string(s) + "'", "use vanilla, ritl or ritl-doc");
}

const char* to_string(Strategy s) {
  switch (s) {
    case Strategy::vanilla: return "vanilla";
    case Strategy::ritl: return "ritl";
    case Strategy::ritl_doc: return "ritl-doc";
  }
  return "?";
}

void to_json(json& j, const Round& r) {
  json msgs = json::array();
  for (const auto& m : r.messages) msgs.push_back({{"role", m.role}, {"content", m.content}});
  j = json{{"round", r.index},
           {"stage", r.stage},
           {"messages", msgs},
           {"completion", r.completion},
           {"code", r.code},
           {"rendered", r.rendered},
           {"success", r.success},
           {"failure", r.failure},
           {"error_line", r.error_line},
           {"feedback", r.feedback},
           {"api_info", r.api_info},
           {"documented", r.documented},
           {"undocumented", r.undocumented},
           {"video", r.video},
           {"prompt_tokens", r.prompt_tokens},
           {"completion_tokens", r.completion_tokens},
           {"generation_s", r.generation_s},
           {"render_s", r.render_s},
           {"retrieval_s", r.retrieval_s},
           {"render_cached", r.render_cached}};
}

void to_json(json& j, const TaskRun& t) {
  j = json{{"id", t.id},
           {"strategy", t.strategy},
           {"success", t.success},
           {"failure", t.failure},
           {"error_line", t.error_line},
           {"code", t.final_code},
           {"video", t.video},
           {"rounds", t.rounds.size()},
           {"llm_calls", t.llm_calls},
           {"renders", t.renders},
           {"prompt_tokens", t.prompt_tokens},
           {"completion_tokens", t.completion_tokens},
           {"generation_s", t.generation_s},
           {"render_s", t.render_s},
           {"retrieval_s", t.retrieval_s},
           {"wall_s", t.wall_s}};
}

Agent::Agent(ChatBackend& backend, render::Renderer& renderer, PromptSet prompts, AgentOptions opt,
             std::shared_ptr<const Retriever> retriever)
    : backend_(backend), renderer_(renderer), prompts_(std::move(prompts)), opt_(std::move(opt)),
      retriever_(std::move(retriever)) {
  if (opt_.strategy == Strategy::ritl_doc && !retriever_)
    throw Error("the ritl-doc strategy needs the Manim API doc index", "build it with scripts/setup.sh");
  if (opt_.rounds < 0 || opt_.rounds > 20) throw Error("--rounds must be between 0 and 20");
  if (opt_.feedback != "paper" && opt_.feedback != "clean")
    throw Error("unknown feedback format '" + opt_.feedback + "'", "use paper or clean");
}

namespace {


}  // namespace

TaskRun Agent::run(const std::string& id, const std::string& description,
                   const std::function<void(const Round&)>& on_round) const {
  auto t_start = std::chrono::steady_clock::now();
  TaskRun run;
  run.id = id;
  run.strategy = to_string(opt_.strategy);

  auto call = [&](Round& r, const PromptStage& stage, const std::map<std::string, std::string>& vars) {
    r.messages = stage_messages(stage, vars);
    ChatReply reply = backend_.chat(r.messages, opt_.sampling);
    r.completion = reply.text;
    r.code = data::extract_code(reply.text);
    r.prompt_tokens = reply.prompt_tokens;
    r.completion_tokens = reply.completion_tokens;
    r.generation_s = reply.latency_s;
    ++run.llm_calls;
    run.prompt_tokens += reply.prompt_tokens;
    run.completion_tokens += reply.completion_tokens;
    run.generation_s += reply.latency_s;
  };
  auto retrieve = [&](Round& r, const std::string& code, const std::string& error_text) {
    auto t0 = std::chrono::steady_clock::now();
    Retrieval docs = retriever_->retrieve(code, error_text);
    r.api_info = docs.api_info.empty() ? "NONE" : docs.api_info;
    r.documented = docs.documented;
    r.undocumented = docs.undocumented;
    r.retrieval_s = seconds_since(t0);
    run.retrieval_s += r.retrieval_s;
  };
  // Renders the round's code; returns the text of the error (full stderr/stdout) for retrieval.
  auto render_round = [&](Round& r) -> std::string {
    r.rendered = true;
    ++run.renders;
    run.final_code = r.code;
    if (r.code.empty()) {
      r.failure = "no_code";
      r.error_line = "no code found in the answer";
      r.feedback = "No code was found in the answer: put the complete Python code between <CODE> and </CODE>.";
      run.success = false;
      run.failure = r.failure;
      run.error_line = r.error_line;
      return r.feedback;
    }
    render::RenderJob job;
    job.code = r.code;
    job.id = id + "#" + std::to_string(r.index);
    render::RenderResult res = renderer_.render(job);
    r.render_s = res.duration_s;
    r.render_cached = res.cached;
    run.render_s += res.cached ? 0.0 : res.duration_s;
    r.success = res.success;
    r.failure = std::string(render::to_string(res.failure));
    r.error_line = res.error_line;
    run.success = res.success;
    run.failure = r.failure;
    run.error_line = res.error_line;
    if (res.success) {
      r.video = res.output.string();
      run.video = r.video;
      return {};
    }
    r.feedback = opt_.feedback == "clean" ? render::feedback_clean(res, r.code)
                                          : render::feedback_tail(res, opt_.feedback_lines);
    if (r.feedback.empty()) r.feedback = res.error_line;
    return res.stderr_text.empty() ? res.stdout_text : res.stderr_text + "\n" + res.stdout_text;
  };
  auto finish_round = [&](Round& r) {
    if (on_round) on_round(r);
    run.rounds.push_back(r);
  };

  // Round 0: the first answer.
  Round r0;
  r0.index = 0;
  r0.stage = "generate";
  call(r0, prompts_.generate, {{"description", description}});
  std::string code = r0.code;
  if (opt_.strategy == Strategy::ritl_doc && opt_.doc_rewrite) {
    finish_round(r0);
    Round rw;
    rw.index = 1;
    rw.stage = "doc_rewrite";
    retrieve(rw, code, {});
    call(rw, prompts_.doc_rewrite, {{"description", description}, {"initial_code", code}, {"api_info", rw.api_info}});
    if (rw.code.empty()) rw.code = code;  // a rewrite without code keeps the first answer
    code = rw.code;
    r0 = std::move(rw);
  }
  std::string error_text = render_round(r0);
  std::string feedback = r0.feedback;
  int next_index = r0.index + 1;
  finish_round(r0);

  if (opt_.strategy != Strategy::vanilla) {
    for (int k = 0; k < opt_.rounds && !run.success; ++k) {
      Round r;
      r.index = next_index++;
      std::map<std::string, std::string> vars{{"description", description},
                                              {"initial_code", code},
                                              {"render_errors", feedback.empty() ? "NONE" : feedback}};
      if (opt_.strategy == Strategy::ritl_doc) {
        r.stage = "doc_fix";
        retrieve(r, code, error_text);
        vars["api_info"] = r.api_info;
        call(r, prompts_.doc_fix, vars);
      } else {
        r.stage = "fix";
        call(r, prompts_.fix, vars);
      }
      error_text = render_round(r);
      feedback = r.feedback;
      if (!r.code.empty()) code = r.code;
      finish_round(r);
    }
  }
  run.wall_s = seconds_since(t_start);
  return run;
}

}  // namespace mtk::agent
