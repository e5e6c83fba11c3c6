#pragma once
// The inference strategies of ManimAgent (arXiv 2604.18364):
//   vanilla   one generation, one render.
//   ritl      renderer in the loop: render; on failure put the error (the last `feedback_lines`
//             lines of the render's error output) in <RENDER_ERRORS> with the failed code in
//             <INITIAL_CODE> and generate again; at most `rounds` such corrections; stop at the
//             first successful render.
//   ritl-doc  ritl with Manim API documentation retrieved for the calls in the code in <API_INFO>;
//             as the authors' code, the first answer is rewritten once with its documentation
//             before the first render (`doc_rewrite`, switchable).
// An answer without extractable code counts as a failed render ("no_code"); its feedback says so.
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "mtk/agent/backend.hpp"
#include "mtk/agent/prompts.hpp"

namespace mtk::render {
class Renderer;
}

namespace mtk::agent {

class Retriever;

enum class Strategy { vanilla, ritl, ritl_doc };
// "vanilla", "ritl", "ritl-doc" (also "fb" and "rag_fb", the authors' mode names). Throws mtk::Error.
Strategy strategy_from_string(std::string_view s);
const char* to_string(Strategy s);

struct AgentOptions {
  Strategy strategy = Strategy::vanilla;
  int rounds = 3;              // correction rounds after the first render (ritl, ritl-doc)
  bool doc_rewrite = true;     // ritl-doc: rewrite with docs before the first render
  std::string feedback = "paper";  // paper: last feedback_lines lines of the error output; clean: render::feedback_clean
  int feedback_lines = 10;
  SamplingParams sampling;
};

// One model call and, when code came out of it and the stage renders, its render.
struct Round {
  int index = 0;           // 0, 1, ...
  std::string stage;       // generate, doc_rewrite, fix, doc_fix
  std::vector<llm::ChatMessage> messages;
  std::string completion;
  std::string code;        // extracted; "" when none
  bool rendered = false;   // a render was attempted after this call
  bool success = false;
  std::string failure;     // failure class name ("none" on success, "no_code" without code)
  std::string error_line;
  std::string feedback;    // what the next round gets in <RENDER_ERRORS> ("" on success)
  std::string api_info;    // <API_INFO> given in this round's prompt
  std::vector<std::string> documented, undocumented;
  std::string video;       // output path of a successful render
  int prompt_tokens = 0, completion_tokens = 0;
  double generation_s = 0, render_s = 0, retrieval_s = 0;
  bool render_cached = false;
};

struct TaskRun {
  std::string id;
  std::string strategy;
  std::vector<Round> rounds;
  std::string final_code;  // the code of the last render ("" when that answer had none)
  bool success = false;    // the final code rendered
  std::string failure;     // of the final render
  std::string error_line;
  std::string video;       // of the final successful render
  int llm_calls = 0, renders = 0;
  int prompt_tokens = 0, completion_tokens = 0;
  double generation_s = 0, render_s = 0, retrieval_s = 0, wall_s = 0;
};

void to_json(nlohmann::json& j, const Round& r);
void to_json(nlohmann::json& j, const TaskRun& t);  // without the rounds

class Agent {
 public:
  // `retriever` is needed for ritl-doc (mtk::Error otherwise).
  Agent(ChatBackend& backend, render::Renderer& renderer, PromptSet prompts, AgentOptions opt,
        std::shared_ptr<const Retriever> retriever = nullptr);
  // Runs the strategy for one description. Backend errors propagate (mtk::Error); render failures
  // are outcomes, never exceptions. `on_round` is called after each round (progress, transcripts).
  TaskRun run(const std::string& id, const std::string& description,
              const std::function<void(const Round&)>& on_round = {}) const;
  const AgentOptions& options() const { return opt_; }

 private:
  ChatBackend& backend_;
  render::Renderer& renderer_;
  PromptSet prompts_;
  AgentOptions opt_;
  std::shared_ptr<const Retriever> retriever_;
};

}  // namespace mtk::agent
