// OpenAI-compatible chat completions over HTTP(S) with cpp-httplib.
#include <httplib.h>

#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "mtk/agent/backend.hpp"
#include "mtk/core/error.hpp"
#include <spdlog/spdlog.h>

namespace mtk::agent {

namespace {

using json = nlohmann::json;

struct Url {
  std::string scheme_host_port;  // "http://127.0.0.1:8080"
  std::string path;              // "/v1"
};

Url parse_url(const std::string& u) {
  size_t sep = u.find("://");
  if (sep == std::string::npos)
    throw Error("base URL '" + u + "' has no scheme (use e.g. http://127.0.0.1:8080/v1 or https://api.openai.com/v1)");
  std::string scheme = u.substr(0, sep);
  if (scheme != "http" && scheme != "https")
    throw Error("base URL '" + u + "': scheme must be http or https");
  size_t slash = u.find('/', sep + 3);
  Url r;
  r.scheme_host_port = u.substr(0, slash);
  if (r.scheme_host_port.size() <= sep + 3) throw Error("base URL '" + u + "' has no host");
  r.path = slash == std::string::npos ? "" : u.substr(slash);
  while (!r.path.empty() && r.path.back() == '/') r.path.pop_back();
  return r;
}

class Semaphore {
 public:
  explicit Semaphore(int n) : n_(n < 1 ? 1 : n) {}
  void acquire() {
    std::unique_lock<std::mutex> l(m_);
    cv_.wait(l, [&] { return n_ > 0; });
    --n_;
  }
  void release() {
    {
      std::lock_guard<std::mutex> l(m_);
      ++n_;
    }
    cv_.notify_one();
  }

 private:
  int n_;
  std::mutex m_;
  std::condition_variable cv_;
};

class HttpBackend : public ChatBackend {
 public:
  explicit HttpBackend(const HttpBackendOptions& o) : opt_(o), url_(parse_url(o.base_url)), slots_(o.max_concurrency) {
    if (!o.api_key_env.empty())
      if (const char* k = std::getenv(o.api_key_env.c_str())) api_key_ = k;
  }

  ChatReply chat(const std::vector<llm::ChatMessage>& messages, const SamplingParams& p) override {
    json body;
    if (!opt_.model.empty()) body["model"] = opt_.model;
    body["messages"] = json::array();
    for (const auto& m : messages) body["messages"].push_back({{"role", m.role}, {"content", m.content}});
    body["max_tokens"] = p.max_tokens;
    body["temperature"] = p.temperature;
    if (p.top_p < 1.0) body["top_p"] = p.top_p;
    if (p.min_p > 0.0) body["min_p"] = p.min_p;
    if (p.top_k > 0) body["top_k"] = p.top_k;
    if (p.repetition_penalty != 1.0) body["repetition_penalty"] = p.repetition_penalty;
    if (p.seed) body["seed"] = p.seed;
    if (!p.stop.empty()) body["stop"] = p.stop;
    const std::string payload = body.dump();

    slots_.acquire();
    struct Release {
      Semaphore& s;
      ~Release() { s.release(); }
    } release{slots_};

    auto t0 = std::chrono::steady_clock::now();
    std::string last_error;
    double wait = opt_.backoff_s;
    for (int attempt = 0; attempt <= opt_.max_retries; ++attempt) {
      httplib::Client cli(url_.scheme_host_port);
      cli.set_connection_timeout(std::chrono::milliseconds(int64_t(opt_.connect_timeout_s * 1000)));
      cli.set_read_timeout(std::chrono::milliseconds(int64_t(opt_.timeout_s * 1000)));
      cli.set_write_timeout(std::chrono::milliseconds(int64_t(opt_.timeout_s * 1000)));
      httplib::Headers headers;
      if (!api_key_.empty()) headers.emplace("Authorization", "Bearer " + api_key_);
      auto res = cli.Post(url_.path + "/chat/completions", headers, payload, "application/json");
      double retry_after = -1;
      if (!res) {
        last_error = "request failed: " + httplib::to_string(res.error());
      } else if (res->status == 200) {
        ChatReply r = parse_reply(res->body);
        r.attempts = attempt + 1;
        r.latency_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        return r;
      } else {
        last_error = "HTTP " + std::to_string(res->status) + ": " + res->body.substr(0, 300);
        bool retryable = res->status == 429 || res->status >= 500;
        if (!retryable)
          throw Error("chat server " + describe() + " refused the request: " + last_error,
                      res->status == 401 || res->status == 403 ? "set $" + opt_.api_key_env + " to a valid API key"
                                                               : "check --base-url and --model");
        if (res->has_header("Retry-After")) retry_after = std::atof(res->get_header_value("Retry-After").c_str());
      }
      if (attempt == opt_.max_retries) break;
      double w = retry_after >= 0 ? retry_after : wait;
      if (w > opt_.backoff_max_s) w = opt_.backoff_max_s;
      spdlog::warn("chat request to {} failed ({}); retry {}/{} in {:.1f} s", describe(), last_error, attempt + 1,
                opt_.max_retries, w);
      std::this_thread::sleep_for(std::chrono::milliseconds(int64_t(w * 1000)));
      wait *= 2;
    }
    throw Error("chat server " + describe() + " did not answer after " + std::to_string(opt_.max_retries + 1) +
                    " attempts: " + last_error,
                "check that the server runs and --base-url points at its /v1 prefix");
  }

  std::string describe() const override {
    return url_.scheme_host_port + url_.path + (opt_.model.empty() ? "" : " (" + opt_.model + ")");
  }

 private:
  ChatReply parse_reply(const std::string& text) const {
    json j;
    try {
      j = json::parse(text);
    } catch (const std::exception& e) {
      throw Error("chat server " + describe() + " sent a reply that is not JSON: " + text.substr(0, 200));
    }
    ChatReply r;
    try {
      const auto& choice = j.at("choices").at(0);
      const auto& content = choice.at("message").at("content");
      r.text = content.is_null() ? "" : content.get<std::string>();
      if (choice.contains("finish_reason") && choice["finish_reason"].is_string())
        r.finish_reason = choice["finish_reason"].get<std::string>();
      if (j.contains("usage") && j["usage"].is_object()) {
        r.prompt_tokens = j["usage"].value("prompt_tokens", 0);
        r.completion_tokens = j["usage"].value("completion_tokens", 0);
      }
    } catch (const json::exception& e) {
      throw Error("chat server " + describe() + " sent a reply without choices[0].message.content: " +
                  text.substr(0, 200));
    }
    return r;
  }

  HttpBackendOptions opt_;
  Url url_;
  std::string api_key_;
  Semaphore slots_;
};

}  // namespace

std::unique_ptr<ChatBackend> make_http_backend(const HttpBackendOptions& opt) {
  return std::make_unique<HttpBackend>(opt);
}

}  // namespace mtk::agent
