#include <mutex>

#include "mtk/agent/backend.hpp"
#include "mtk/llm/generate.hpp"

namespace mtk::agent {

namespace {

class LocalBackend : public ChatBackend {
 public:
  explicit LocalBackend(std::shared_ptr<const llm::LanguageModel> m) : model_(std::move(m)) {}

  ChatReply chat(const std::vector<llm::ChatMessage>& messages, const SamplingParams& p) override {
    std::lock_guard<std::mutex> lock(mu_);
    auto t0 = std::chrono::steady_clock::now();
    llm::GenerateOptions g;
    g.max_new_tokens = p.max_tokens;
    g.temperature = p.temperature;
    g.top_p = p.top_p;
    g.top_k = p.top_k;
    g.min_p = p.min_p;
    g.repetition_penalty = p.repetition_penalty;
    g.seed = p.seed;
    g.stop = p.stop;
    std::string prompt = model_->chat_prompt(messages);
    auto gens = model_->generate({prompt}, g);
    ChatReply r;
    r.text = gens[0].text;
    r.finish_reason = gens[0].finish_reason == "length" ? "length" : "stop";
    r.prompt_tokens = int(gens[0].prompt_tokens.size());
    r.completion_tokens = int(gens[0].tokens.size());
    r.latency_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return r;
  }
  std::string describe() const override { return "local:" + model_->path(); }

 private:
  std::shared_ptr<const llm::LanguageModel> model_;
  std::mutex mu_;
};

}  // namespace

std::unique_ptr<ChatBackend> make_local_backend(std::shared_ptr<const llm::LanguageModel> model) {
  return std::make_unique<LocalBackend>(std::move(model));
}

}  // namespace mtk::agent
