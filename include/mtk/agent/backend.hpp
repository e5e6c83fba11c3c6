#pragma once
// Chat backends: the in-process runtime (a local model) and any OpenAI-compatible HTTP server
// (POST {base_url}/chat/completions). Both return the reply text, token usage and latency.
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "mtk/llm/chat_template.hpp"

namespace mtk::llm {
class LanguageModel;
}

namespace mtk::agent {

struct SamplingParams {
  int max_tokens = 1024;
  double temperature = 0.0;  // 0: greedy
  double top_p = 1.0;
  int top_k = 0;             // local backend only (not part of the OpenAI API)
  double min_p = 0.0;        // local backend; sent to HTTP servers as "min_p" (vLLM, llama.cpp accept it)
  double repetition_penalty = 1.0;
  uint64_t seed = 0;
  std::vector<std::string> stop;
};

struct ChatReply {
  std::string text;
  std::string finish_reason;  // "stop", "length", ...
  int prompt_tokens = 0, completion_tokens = 0;
  double latency_s = 0;
  int attempts = 1;           // HTTP: requests made (retries + 1)
  int batch_size = 1;         // local: requests generated together with this one (itself included)
};

class ChatBackend {
 public:
  virtual ~ChatBackend() = default;
  // Throws mtk::Error when the backend cannot answer (after its retries).
  virtual ChatReply chat(const std::vector<llm::ChatMessage>& messages, const SamplingParams& params) = 0;
  virtual std::string describe() const = 0;  // "local:models/x.gguf", "http://host:port/v1 (model)"
};

// The in-process runtime. Greedy calls made concurrently (up to max_batch, gathered for at most
// batch_wait_s) are generated as one batch; sampled calls (temperature > 0) one at a time, so a
// seeded sample never depends on its batch companions. max_batch 1: every call alone.
std::unique_ptr<ChatBackend> make_local_backend(std::shared_ptr<const llm::LanguageModel> model, int max_batch = 1,
                                                double batch_wait_s = 0.05);

struct HttpBackendOptions {
  std::string base_url = "http://127.0.0.1:8080/v1";  // the part before /chat/completions
  std::string model;                 // "model" field of requests
  std::string api_key_env = "OPENAI_API_KEY";  // read at construction; unset or empty: no header
  double timeout_s = 600;            // read/write timeout of one request
  double connect_timeout_s = 10;
  int max_retries = 4;               // on connection errors, timeouts, 429 and 5xx
  double backoff_s = 1.0;            // first wait; doubles each retry (Retry-After wins when given)
  double backoff_max_s = 30;
  int max_concurrency = 4;           // requests in flight at once from this backend
};

// Throws mtk::Error for a malformed base URL.
std::unique_ptr<ChatBackend> make_http_backend(const HttpBackendOptions& opt);

}  // namespace mtk::agent
