#include "mtk/agent/server.hpp"

#include <httplib.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <nlohmann/json.hpp>

#include "mtk/agent/backend.hpp"
#include "mtk/core/error.hpp"

namespace mtk::agent {

using json = nlohmann::json;

struct ChatServer::Impl {
  std::shared_ptr<ChatBackend> backend;
  ServeOptions opt;
  httplib::Server server;
  int port = -1;
  std::atomic<uint64_t> next_id{1};
};

namespace {

void send_error(httplib::Response& res, int status, const std::string& msg, const std::string& type) {
  res.status = status;
  res.set_content(json{{"error", {{"message", msg}, {"type", type}}}}.dump(), "application/json");
}

}  // namespace

ChatServer::ChatServer(std::shared_ptr<ChatBackend> backend, ServeOptions opt) : impl_(std::make_unique<Impl>()) {
  impl_->backend = std::move(backend);
  impl_->opt = std::move(opt);
  Impl* s = impl_.get();

  s->server.Get("/health", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(R"({"status":"ok"})", "application/json");
  });
  s->server.Get("/v1/models", [s](const httplib::Request&, httplib::Response& res) {
    json j{{"object", "list"},
           {"data", json::array({{{"id", s->opt.model_name}, {"object", "model"}, {"owned_by", "manim-toolkit"}}})}};
    res.set_content(j.dump(), "application/json");
  });
  s->server.Post("/v1/chat/completions", [s](const httplib::Request& req, httplib::Response& res) {
    json body;
    try {
      body = json::parse(req.body);
    } catch (const std::exception&) {
      return send_error(res, 400, "request body is not JSON", "invalid_request_error");
    }
    std::vector<llm::ChatMessage> messages;
    SamplingParams p;
    bool stream = false;
    try {
      if (!body.contains("messages") || !body["messages"].is_array() || body["messages"].empty())
        return send_error(res, 400, "'messages' must be a non-empty array", "invalid_request_error");
      for (const auto& m : body["messages"]) {
        const auto& c = m.at("content");
        std::string text;
        if (c.is_string()) {
          text = c.get<std::string>();
        } else if (c.is_array()) {  // [{"type": "text", "text": ...}, ...]
          for (const auto& part : c)
            if (part.value("type", "") == "text") text += part.value("text", "");
        } else if (!c.is_null()) {
          return send_error(res, 400, "message content must be a string or a list of text parts",
                            "invalid_request_error");
        }
        messages.push_back({m.at("role").get<std::string>(), text});
      }
      p.max_tokens = body.value("max_tokens", body.value("max_completion_tokens", s->opt.default_max_tokens));
      if (p.max_tokens < 1 || p.max_tokens > s->opt.max_tokens_limit)
        return send_error(res, 400, "max_tokens must be in [1, " + std::to_string(s->opt.max_tokens_limit) + "]",
                          "invalid_request_error");
      p.temperature = body.value("temperature", 1.0);  // the OpenAI API's default
      p.top_p = body.value("top_p", 1.0);
      p.top_k = body.value("top_k", 0);
      p.min_p = body.value("min_p", 0.0);
      p.repetition_penalty = body.value("repetition_penalty", 1.0);
      if (body.contains("seed") && body["seed"].is_number_integer()) p.seed = body["seed"].get<uint64_t>();
      if (body.contains("stop")) {
        if (body["stop"].is_string()) p.stop.push_back(body["stop"].get<std::string>());
        else if (body["stop"].is_array()) p.stop = body["stop"].get<std::vector<std::string>>();
      }
      stream = body.value("stream", false);
      if (p.temperature < 0 || p.top_p <= 0 || p.top_p > 1)
        return send_error(res, 400, "temperature must be >= 0 and top_p in (0, 1]", "invalid_request_error");
    } catch (const json::exception& e) {
      return send_error(res, 400, std::string("malformed request: ") + e.what(), "invalid_request_error");
    }
    ChatReply r;
    try {
      r = s->backend->chat(messages, p);
    } catch (const std::exception& e) {
      return send_error(res, 500, e.what(), "server_error");
    }
    std::string id = "chatcmpl-" + std::to_string(s->next_id++);
    auto created = std::chrono::duration_cast<std::chrono::seconds>(
                       std::chrono::system_clock::now().time_since_epoch()).count();
    json usage{{"prompt_tokens", r.prompt_tokens},
               {"completion_tokens", r.completion_tokens},
               {"total_tokens", r.prompt_tokens + r.completion_tokens}};
    if (stream) {
      json chunk{{"id", id}, {"object", "chat.completion.chunk"}, {"created", created}, {"model", s->opt.model_name},
                 {"choices", json::array({{{"index", 0},
                                           {"delta", {{"role", "assistant"}, {"content", r.text}}},
                                           {"finish_reason", r.finish_reason}}})},
                 {"usage", usage}};
      res.set_content("data: " + chunk.dump() + "\n\ndata: [DONE]\n\n", "text/event-stream");
      return;
    }
    json out{{"id", id}, {"object", "chat.completion"}, {"created", created}, {"model", s->opt.model_name},
             {"choices", json::array({{{"index", 0},
                                       {"message", {{"role", "assistant"}, {"content", r.text}}},
                                       {"finish_reason", r.finish_reason}}})},
             {"usage", usage}};
    res.set_content(out.dump(), "application/json");
    spdlog::info("serve: {} prompt + {} completion tokens in {:.2f} s", r.prompt_tokens, r.completion_tokens,
                 r.latency_s);
  });
}

ChatServer::~ChatServer() { stop(); }

int ChatServer::bind() {
  if (impl_->opt.port == 0) {
    impl_->port = impl_->server.bind_to_any_port(impl_->opt.host);
  } else {
    impl_->port = impl_->server.bind_to_port(impl_->opt.host, impl_->opt.port) ? impl_->opt.port : -1;
  }
  if (impl_->port < 0)
    throw Error("cannot listen on " + impl_->opt.host + ":" + std::to_string(impl_->opt.port),
                "choose another --port (is a server already running there?)");
  return impl_->port;
}

int ChatServer::port() const { return impl_->port; }

void ChatServer::run() {
  if (impl_->port < 0) bind();
  impl_->server.listen_after_bind();
}

void ChatServer::stop() {
  if (impl_ && impl_->server.is_running()) impl_->server.stop();
}

}  // namespace mtk::agent
