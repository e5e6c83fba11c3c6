#include <catch2/catch.hpp>

#include "mtk/core/error.hpp"
#include "mtk/llm/gguf.hpp"
#include "mtk/llm/model_info.hpp"

using namespace mtk;

TEST_CASE("model names resolve to the fetched files; unknown paths fail with the fix", "[unit]") {
  auto p = llm::resolve_model("smollm2");  // fetched by scripts/setup.sh
  CHECK(p.find("SmolLM2-135M-Instruct.Q4_1.gguf") != std::string::npos);
  auto info = llm::describe(llm::GgufFile::open(p));
  CHECK(info.architecture == "llama");
  CHECK(info.has_chat_template);
  CHECK_THROWS_WITH(llm::resolve_model("/nonexistent/model.gguf"), Catch::Contains("does not exist"));
}
