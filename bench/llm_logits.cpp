// Prints the last-position logits our model computes for a list of token ids, as JSON, so that they
// can be compared with other engines by hand (tests/llm/hf_gguf_logits.py compares them with
// Hugging Face transformers loading the same GGUF file in float32).
//   llm_logits MODEL '[id, id, ...]' [--llamacpp-numerics]  > ours.json
// (--llamacpp-numerics: llama.cpp's CPU arithmetic, compare with tests/llm/llamacpp_eval.py logits)
// MTK_TAP_DIR=DIR: also writes every intermediate tensor of the pass as DIR/NAME.bin (float32, row
// major) with DIR/index.txt listing "NAME dims...", named as llama.cpp names them.
#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "mtk/llm/model.hpp"
#include "mtk/llm/model_info.hpp"
#include "mtk/llm/llamacpp_numerics.hpp"

int main(int argc, char** argv) {
  const bool lcn = argc == 4 && std::string(argv[3]) == "--llamacpp-numerics";
  if (argc != 3 && !lcn) {
    std::fprintf(stderr, "usage: llm_logits MODEL '[token ids]' [--llamacpp-numerics]\n");
    return 2;
  }
  try {
    c10::InferenceMode guard;
    mtk::llm::LoadOptions lo;
    lo.llamacpp_numerics = lcn;
    const auto m = mtk::llm::Model::load(mtk::llm::resolve_model(argv[1]), lo);
    const auto ids = nlohmann::json::parse(argv[2]).get<std::vector<int64_t>>();
    std::ofstream idx;
    if (const char* d = std::getenv("MTK_TAP_DIR")) {
      idx.open(std::string(d) + "/index.txt");
      mtk::llm::lcn::debug_tap() = [&idx, d](const std::string& name, const at::Tensor& t) {
        const at::Tensor c = t.to(at::kFloat).contiguous();
        std::ofstream(std::string(d) + "/" + name + ".bin", std::ios::binary).write(reinterpret_cast<const char*>(c.data_ptr<float>()), c.numel() * 4);
        idx << name;
        for (auto s : c.sizes()) idx << " " << s;
        idx << "\n";
      };
    }
    const at::Tensor logits = m->forward(at::tensor(ids, at::kLong).view({1, -1}), nullptr, true).view({-1});
    const float* p = logits.data_ptr<float>();
    std::printf("%s\n", nlohmann::json(std::vector<float>(p, p + logits.numel())).dump().c_str());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "llm_logits: %s\n", e.what());
    return 1;
  }
  return 0;
}
