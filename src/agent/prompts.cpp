#include "mtk/agent/prompts.hpp"

#include "mtk/core/error.hpp"
#include "mtk/core/fs.hpp"

namespace mtk::agent {

namespace {

std::string read_prompt(const std::filesystem::path& p) {
  if (!std::filesystem::is_regular_file(p))
    throw Error("prompt file " + p.string() + " is missing (a prompt set needs generate, fix, doc_rewrite and "
                "doc_fix, each as STAGE.system.txt and STAGE.user.txt; see configs/prompts/paper)");
  std::string s = fs::read_file(p);
  if (!s.empty() && s.back() == '\n') s.pop_back();
  if (!s.empty() && s.back() == '\r') s.pop_back();
  return s;
}

PromptStage read_stage(const std::filesystem::path& dir, const std::string& name) {
  return {read_prompt(dir / (name + ".system.txt")), read_prompt(dir / (name + ".user.txt"))};
}

const char* const kKnown[] = {"description", "initial_code", "render_errors", "api_info"};

}  // namespace

PromptSet load_prompt_set(const std::filesystem::path& dir_in) {
  std::filesystem::path dir = dir_in.empty() ? fs::project_root() / "configs" / "prompts" / "paper" : dir_in;
  if (!std::filesystem::is_directory(dir))
    throw Error("prompt set directory " + dir.string() + " not found (use configs/prompts/paper or a copy of it)");
  PromptSet p;
  p.generate = read_stage(dir, "generate");
  p.fix = read_stage(dir, "fix");
  p.doc_rewrite = read_stage(dir, "doc_rewrite");
  p.doc_fix = read_stage(dir, "doc_fix");
  p.dir = dir;
  return p;
}

std::string fill_template(std::string_view t, const std::map<std::string, std::string>& vars) {
  std::string out;
  out.reserve(t.size() + 256);
  size_t i = 0;
  while (i < t.size()) {
    if (t[i] == '{') {
      size_t close = t.find('}', i + 1);
      if (close != std::string_view::npos) {
        std::string name(t.substr(i + 1, close - i - 1));
        auto it = vars.find(name);
        if (it != vars.end()) {
          out += it->second;
          i = close + 1;
          continue;
        }
        for (const char* k : kKnown)
          if (name == k)
            throw Error("prompt template needs {" + name + "} but the strategy did not provide it (is the "
                        "template used for the right stage?)");
      }
    }
    out += t[i++];
  }
  return out;
}

std::vector<llm::ChatMessage> stage_messages(const PromptStage& stage, const std::map<std::string, std::string>& vars) {
  std::vector<llm::ChatMessage> m;
  if (!stage.system.empty()) m.push_back({"system", fill_template(stage.system, vars)});
  m.push_back({"user", fill_template(stage.user, vars)});
  return m;
}

}  // namespace mtk::agent
