#pragma once
// Prompt sets for the agent strategies (configs/prompts/<set>/STAGE.system.txt and STAGE.user.txt).
//   generate     first answer from the description                      {description}
//   fix          RITL: regenerate from the code and its render errors    + {initial_code} {render_errors}
//   doc_rewrite  RITL-DOC: rewrite with API docs before the first render + {initial_code} {api_info}
//   doc_fix      RITL-DOC: regenerate with API docs and render errors    all four
#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "mtk/llm/chat_template.hpp"

namespace mtk::agent {

struct PromptStage {
  std::string system;
  std::string user;  // template with {placeholders}
};

struct PromptSet {
  PromptStage generate, fix, doc_rewrite, doc_fix;
  std::filesystem::path dir;  // where it was read from
};

// The prompt set in `dir` (each of the eight files must exist; one trailing newline of each file
// is dropped). Empty dir: <project root>/configs/prompts/paper. Throws mtk::Error naming the
// missing file.
PromptSet load_prompt_set(const std::filesystem::path& dir = {});

// Replaces {name} for each key of `vars` in one left-to-right pass (inserted text is not scanned
// again, so code containing braces is safe). A {placeholder} of the four known names missing from
// `vars` throws mtk::Error; other braces are left as they are.
std::string fill_template(std::string_view tmpl, const std::map<std::string, std::string>& vars);

// System + user messages of a stage.
std::vector<llm::ChatMessage> stage_messages(const PromptStage& stage, const std::map<std::string, std::string>& vars);

}  // namespace mtk::agent
