#pragma once
// `manim-agent serve`: an OpenAI-compatible chat-completions endpoint over any ChatBackend
// (normally the local runtime).
//   POST /v1/chat/completions  {"model", "messages", "max_tokens", "temperature", "top_p", "top_k",
//                               "min_p", "seed", "stop", "repetition_penalty"}; "stream": true is
//                               answered with one server-sent event holding the whole reply
//   GET  /v1/models            the served model
//   GET  /health               {"status": "ok"}
// Requests are handled on the HTTP server's worker threads; the local runtime generates concurrent
// greedy requests as one batch (make_local_backend's max_batch) and sampled ones one at a time.
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
