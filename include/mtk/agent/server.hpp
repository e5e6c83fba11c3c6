#pragma once
// `manim-agent serve`: an OpenAI-compatible chat-completions endpoint over any ChatBackend
// (normally the local runtime).
//   POST /v1/chat/completions  {"model", "messages", "max_tokens", "temperature", "top_p", "top_k",
//                               "min_p", "seed", "stop", "repetition_penalty"}; "stream": true is
//                               answered with one server-sent event holding the whole reply
//   GET  /v1/models            the served model
//   GET  /health               {"status": "ok"}
// Requests are answered one at a time by the backend (the local runtime serialises them).
#include <memory>
#include <string>

namespace mtk::agent {

class ChatBackend;

struct ServeOptions {
  std::string host = "127.0.0.1";
  int port = 8080;              // 0: any free port (see ChatServer::port)
  std::string model_name = "local";
  int default_max_tokens = 1024;
  int max_tokens_limit = 8192;  // larger requests are refused with 400
};

class ChatServer {
 public:
  ChatServer(std::shared_ptr<ChatBackend> backend, ServeOptions opt);
  ~ChatServer();
  // Binds the socket; returns the port. Throws mtk::Error when it cannot bind.
  int bind();
  int port() const;
  // Serves until stop() (bind() first). Blocks.
  void run();
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace mtk::agent
