// The OpenAI-compatible HTTP backend against real server processes on 127.0.0.1: a Python server
// that fails, rate-limits, hangs or refuses, and our own `manim-agent serve` over SmolLM2.
#include <arpa/inet.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <memory>
#include <thread>
#include <nlohmann/json.hpp>

#include "../llm/peer.hpp"
#include "background.hpp"
#include "mtk/agent/backend.hpp"
#include "mtk/core/error.hpp"
#include "mtk/llm/generate.hpp"

using mtk::agent::HttpBackendOptions;
using mtk::test::BackgroundProcess;
namespace stdfs = std::filesystem;

namespace {

std::string test_server_script() { return (stdfs::path(__FILE__).parent_path() / "openai_test_server.py").string(); }

HttpBackendOptions opts_for(int port) {
  HttpBackendOptions o;
  o.base_url = "http://127.0.0.1:" + std::to_string(port) + "/v1";
  o.model = "test-model";
  o.backoff_s = 0.05;
  o.timeout_s = 5;
  o.api_key_env = "MTK_TEST_API_KEY_UNSET";
  return o;
}

nlohmann::json stats(int port) {
  httplib::Client c("127.0.0.1", port);
  auto r = c.Get("/stats");
  REQUIRE(r);
  return nlohmann::json::parse(r->body);
}

const std::vector<mtk::llm::ChatMessage> kHello{{"system", "be brief"}, {"user", "hello there"}};

}  // namespace

TEST_CASE("http backend retries a server that answers 500 twice, then 200", "[agent][http]") {
  BackgroundProcess srv({"python3", test_server_script(), "flaky", "2"}, "PORT");
  const int port = srv.port_after("PORT ");
  auto be = mtk::agent::make_http_backend(opts_for(port));
  mtk::agent::SamplingParams p;
  p.max_tokens = 12;
  p.stop = {"\n\n"};
  auto r = be->chat(kHello, p);
  CHECK(r.text == "echo: hello there");
  CHECK(r.attempts == 3);
  CHECK(r.prompt_tokens == 11);
  CHECK(r.completion_tokens == 7);
  CHECK(r.finish_reason == "stop");
  auto s = stats(port);
  CHECK(s["requests"] == 3);
  // The request carried the model, both messages and the sampling fields.
  CHECK(s["last"]["model"] == "test-model");
  CHECK(s["last"]["messages"].size() == 2);
  CHECK(s["last"]["messages"][0]["role"] == "system");
  CHECK(s["last"]["max_tokens"] == 12);
  CHECK(s["last"]["temperature"] == 0.0);
  CHECK(s["last"]["stop"][0] == "\n\n");
}

TEST_CASE("http backend waits out 429 rate limits", "[agent][http]") {
  BackgroundProcess srv({"python3", test_server_script(), "ratelimit", "1"}, "PORT");
  auto be = mtk::agent::make_http_backend(opts_for(srv.port_after("PORT ")));
  auto r = be->chat(kHello, {});
  CHECK(r.attempts == 2);
  CHECK(r.text == "echo: hello there");
}

TEST_CASE("http backend gives up on a server that never answers", "[agent][http]") {
  BackgroundProcess srv({"python3", test_server_script(), "hang"}, "PORT");
  const int port = srv.port_after("PORT ");
  auto o = opts_for(port);
  o.timeout_s = 1;
  o.max_retries = 1;
  auto be = mtk::agent::make_http_backend(o);
  try {
    be->chat(kHello, {});
    FAIL("a hanging server must end in an error");
  } catch (const mtk::Error& e) {
    CHECK_THAT(e.what(), Catch::Contains("did not answer after 2 attempts"));
  }
  CHECK(stats(port)["requests"] == 2);
}

TEST_CASE("http backend does not retry a 400 and names the fix", "[agent][http]") {
  BackgroundProcess srv({"python3", test_server_script(), "error400"}, "PORT");
  const int port = srv.port_after("PORT ");
  auto be = mtk::agent::make_http_backend(opts_for(port));
  try {
    be->chat(kHello, {});
    FAIL("a 400 must be an error");
  } catch (const mtk::Error& e) {
    CHECK_THAT(e.what(), Catch::Contains("HTTP 400"));
    CHECK_THAT(e.what(), Catch::Contains("bad request from test server"));
  }
  CHECK(stats(port)["requests"] == 1);
}

TEST_CASE("http backend: bad URLs and refused connections are clear errors", "[agent][http]") {
  HttpBackendOptions o;
  o.base_url = "127.0.0.1:8080/v1";
  CHECK_THROWS_WITH(mtk::agent::make_http_backend(o), Catch::Contains("has no scheme"));
  o.base_url = "ftp://x/v1";
  CHECK_THROWS_WITH(mtk::agent::make_http_backend(o), Catch::Contains("scheme must be http or https"));
  // A port nobody listens on: connection refused on every attempt.
  o = opts_for(1);
  o.max_retries = 1;
  auto be = mtk::agent::make_http_backend(o);
  CHECK_THROWS_WITH(be->chat(kHello, {}), Catch::Contains("did not answer after 2 attempts"));
}

TEST_CASE("manim-agent serve answers like the in-process model", "[agent][http][serve]") {
  const auto model = mtk::test::smollm2_path();
  BackgroundProcess srv({(mtk::test::build_dir() / "manim-agent").string(), "--log-level", "warn", "serve", "--model",
                         model.string(), "--port", "0", "--name", "smol", "--threads", "1"},
                        "listening on http://127.0.0.1:");
  const int port = srv.port_after("http://127.0.0.1:");
  REQUIRE(port > 0);

  httplib::Client c("127.0.0.1", port);
  auto health = c.Get("/health");
  REQUIRE(health);
  CHECK(health->status == 200);
  auto models = c.Get("/v1/models");
  REQUIRE(models);
  CHECK(nlohmann::json::parse(models->body)["data"][0]["id"] == "smol");
  auto bad = c.Post("/v1/chat/completions", "{not json", "application/json");
  REQUIRE(bad);
  CHECK(bad->status == 400);
  auto no_msgs = c.Post("/v1/chat/completions", R"({"messages": []})", "application/json");
  REQUIRE(no_msgs);
  CHECK(no_msgs->status == 400);

  auto o = opts_for(port);
  o.model = "smol";
  o.timeout_s = 120;
  auto be = mtk::agent::make_http_backend(o);
  mtk::agent::SamplingParams p;
  p.max_tokens = 24;
  p.temperature = 0;
  auto r = be->chat(kHello, p);
  CHECK(r.completion_tokens > 0);
  CHECK(r.completion_tokens <= 24);

  // The same conversation through the runtime in this process: the same greedy text and counts.
  auto lm = mtk::llm::LanguageModel::load(model.string());
  mtk::llm::GenerateOptions g;
  g.max_new_tokens = 24;
  auto local = lm->generate({lm->chat_prompt(kHello)}, g);
  CHECK(r.text == local[0].text);
  CHECK(r.prompt_tokens == int(local[0].prompt_tokens.size()));
  CHECK(r.completion_tokens == int(local[0].tokens.size()));

  // Streaming requests get one server-sent event with the whole reply.
  auto st = c.Post("/v1/chat/completions",
                   R"({"messages": [{"role": "user", "content": "hi"}], "max_tokens": 4, "temperature": 0, "stream": true})",
                   "application/json");
  REQUIRE(st);
  CHECK(st->status == 200);
  CHECK_THAT(st->body, Catch::StartsWith("data: {"));
  CHECK_THAT(st->body, Catch::EndsWith("data: [DONE]\n\n"));
}

TEST_CASE("http backend against llama-cpp-python's OpenAI-compatible server", "[agent][http][llamacpp]") {
  const auto model = mtk::test::smollm2_path();
  mtk::test::require_python_modules("llama_cpp, uvicorn, fastapi, sse_starlette, starlette_context, pydantic_settings");
  // A free port: bind port 0, read it, release it (the server binds it right after). The server is
  // started a second time, on a new port, if the first start does not come up within 90 s: once in
  // a CI run it printed its model's metadata and then never reached "Uvicorn running on".
  const auto free_port = [] {
    int port = 0;
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0)
      port = ntohs(a.sin_port);
    ::close(fd);
    return port;
  };
  std::unique_ptr<BackgroundProcess> srv;
  int port = 0;
  for (int attempt = 0; attempt < 2 && !(srv && srv->started()); ++attempt) {
    port = free_port();
    REQUIRE(port > 0);
    srv = std::make_unique<BackgroundProcess>(
        std::vector<std::string>{"/bin/sh", "-c",
                                 "exec " + mtk::test::quote(mtk::test::python()) + " -m llama_cpp.server --model " +
                                     mtk::test::quote(model.string()) + " --host 127.0.0.1 --port " +
                                     std::to_string(port) + " --n_ctx 2048 --n_threads 1 2>&1"},
        "Uvicorn running on", 90, attempt == 1);
  }
  REQUIRE(srv->started());
  auto o = opts_for(port);
  o.model = model.string();
  o.timeout_s = 120;
  auto be = mtk::agent::make_http_backend(o);
  mtk::agent::SamplingParams p;
  p.max_tokens = 16;
  auto r = be->chat(kHello, p);
  CHECK_FALSE(r.text.empty());
  CHECK(r.completion_tokens > 0);
  CHECK(r.completion_tokens <= 16);
  CHECK((r.finish_reason == "stop" || r.finish_reason == "length"));
  // llama.cpp applies the same chat template and tokenizer as our runtime: same prompt length.
  auto lm = mtk::llm::LanguageModel::load(model.string());
  CHECK(r.prompt_tokens == int(lm->encode_prompt(lm->chat_prompt(kHello)).size()));
}

TEST_CASE("local backend: concurrent greedy requests are batched and answer as alone", "[agent][batch]") {
  // Four threads ask at once (max_batch 4): one batched generation, each answer equal to the one
  // the same request gets alone; a sampled request (temperature > 0) is never batched.
  auto lm = mtk::llm::LanguageModel::load(mtk::test::smollm2_path().string());
  std::shared_ptr<const mtk::llm::LanguageModel> shared = std::move(lm);
  auto alone = mtk::agent::make_local_backend(shared, 1);
  auto batched = mtk::agent::make_local_backend(shared, 4, 5.0);  // waits until all four are queued
  mtk::agent::SamplingParams p;
  p.max_tokens = 16;
  p.temperature = 0;
  const std::vector<std::string> asks = {"Name a shape.", "Write a Python comment.", "Say hello in French.",
                                         "Count to five."};
  std::vector<mtk::agent::ChatReply> want, got(asks.size());
  for (const auto& a : asks) want.push_back(alone->chat({{"user", a}}, p));
  std::vector<std::thread> threads;
  for (size_t i = 0; i < asks.size(); ++i)
    threads.emplace_back([&, i] { got[i] = batched->chat({{"user", asks[i]}}, p); });
  for (auto& t : threads) t.join();
  for (size_t i = 0; i < asks.size(); ++i) {
    INFO(asks[i]);
    CHECK(got[i].text == want[i].text);
    CHECK(got[i].completion_tokens == want[i].completion_tokens);
    CHECK(got[i].batch_size == 4);
    CHECK(want[i].batch_size == 1);
  }
  mtk::agent::SamplingParams sampled = p;
  sampled.temperature = 0.7;
  sampled.seed = 5;
  CHECK(batched->chat({{"user", asks[0]}}, sampled).batch_size == 1);
}
