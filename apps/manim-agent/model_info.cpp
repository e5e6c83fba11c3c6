// manim-agent model-info MODEL: a GGUF model's architecture, sizes, quantisation, tokenizer, template.
#include <cstdio>
#include <memory>
#include <optional>

#include "mtk/core/error.hpp"
#include "mtk/llm/chat_template.hpp"
#include "mtk/llm/generate.hpp"
#include "mtk/llm/gguf.hpp"
#include "mtk/llm/model_config.hpp"
#include "mtk/llm/model_info.hpp"
#include "mtk/llm/tokenizer.hpp"
#include "subcommands.hpp"

namespace mtk::apps::agent {

Subcommand add_model_info(CLI::App& app) {
  auto model = std::make_shared<std::string>();
  auto* cmd = app.add_subcommand("model-info", "Print a GGUF model's architecture, sizes, quantisation types, "
                                               "tokenizer and chat template");
  cmd->add_option("model", *model, "GGUF path, or smollm2 / gemma3 (fetched by scripts/fetch_models.sh)")->required();
  return {cmd, [model] {
            auto f = llm::GgufFile::open(llm::resolve_model(*model));
            std::printf("%s", llm::describe(f).to_string().c_str());
            try {
              auto tok = llm::load_tokenizer(f);
              std::printf("tokenizer: loaded, %d tokens, bos %d %s, eos %d %s\n", (int)tok->vocab_size(), (int)tok->bos(),
                          tok->bos() >= 0 ? tok->token_text(tok->bos()).c_str() : "-", (int)tok->eos(),
                          tok->eos() >= 0 ? tok->token_text(tok->eos()).c_str() : "-");
              std::optional<llm::ChatFormat> fmt;
              if (!f.has("tokenizer.chat_template")) fmt = llm::chat_format_from_vocabulary(*tok);
              const auto spec = llm::chat_template_spec(f, fmt);
              std::printf("chat format:     %s%s\n", llm::chat_format_name(spec.format),
                          f.has("tokenizer.chat_template") ? " (from the model's template)" : " (from the vocabulary)");
              const auto cfg = llm::config_from_gguf(f);
              std::printf("runtime:         %s\n", cfg.summary().c_str());
            } catch (const Error& e) {
              std::printf("not loadable: %s\n", e.what());
            }
            return 0;
          }};
}

}  // namespace mtk::apps::agent
