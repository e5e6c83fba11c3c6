// The GRPO recipe (train/grpo.hpp): its configuration, the reward check before step 1, and a real
// step of SmolLM2-135M-Instruct (Q4_1) with real renders in the sandbox.
#include <catch2/catch.hpp>

#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>

#include "mtk/core/config.hpp"
#include "mtk/core/error.hpp"
#include "mtk/core/fs.hpp"
#include "mtk/llm/safetensors.hpp"
#include "mtk/train/grpo.hpp"

namespace stdfs = std::filesystem;
using json = nlohmann::json;
using mtk::train::GrpoConfig;
using mtk::train::grpo_config_from_json;

namespace {

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const mtk::Error& e) {
    return e.what();
  }
  return "";
}

json project_config() {
  return mtk::config::load_file((mtk::fs::project_root() / "configs/grpo/smollm2-135m-cpu.json").string());
}

}  // namespace

TEST_CASE("GRPO config: the paper's defaults, the CPU config, overrides and errors", "[grpo_loop]") {
  const GrpoConfig d = grpo_config_from_json(json::object());
  CHECK(d.num_generations == 8);
  CHECK(d.num_iterations == 4);
  CHECK(d.loss_type == "dr_grpo");
  CHECK(d.beta == 0.005);
  CHECK(d.epsilon == 0.2);
  CHECK(d.temperature == 0.9);
  CHECK(d.top_p == 0.9);
  CHECK(d.min_p == 0.1);
  CHECK(d.max_prompt_length == 409);
  CHECK(d.max_completion_length == 1639);
  CHECK(d.lr == 5e-7);
  CHECK(d.reward.describe() == mtk::reward::RewardSpec::paper().describe());
  // to_json writes every key and reads back to the same config.
  CHECK(mtk::train::to_json(grpo_config_from_json(mtk::train::to_json(d))) == mtk::train::to_json(d));

  json j = project_config();
  mtk::config::apply_overrides(j, {"beta=0", "reward.visual_term=S_SSIM", "lora.r=4", "max_steps=3"});
  const GrpoConfig c = grpo_config_from_json(j);
  CHECK(c.beta == 0);
  CHECK(c.reward.visual_term == "S_SSIM");
  CHECK(c.reward.code_term == "CodeBLEU");
  CHECK(c.lora.r == 4);
  CHECK(c.max_steps == 3);

  CHECK_THAT(error_of([] { grpo_config_from_json(json{{"num_generation", 8}}); }),
             Catch::Contains("unknown GRPO config key 'num_generation'"));
  CHECK_THAT(error_of([] { grpo_config_from_json(json{{"lora", {{"rank", 8}}}}); }),
             Catch::Contains("unknown GRPO config key 'lora.rank'"));
  CHECK_THAT(error_of([] { grpo_config_from_json(json{{"num_generations", 1}}); }), Catch::Contains("at least 2"));
  CHECK_THAT(error_of([] { grpo_config_from_json(json{{"loss_type", "ppo"}}); }), Catch::Contains("loss_type"));
  CHECK_THAT(error_of([] { grpo_config_from_json(json{{"scale_rewards", "yes"}}); }), Catch::Contains("scale_rewards"));
  CHECK_THAT(error_of([] { grpo_config_from_json(json{{"top_p", 0}}); }), Catch::Contains("top_p"));
  CHECK_THAT(error_of([] { grpo_config_from_json(json{{"beta", -1}}); }), Catch::Contains("beta"));
  CHECK_THAT(error_of([] { grpo_config_from_json(json{{"lr", "fast"}}); }), Catch::Contains("wrong type"));
  CHECK_THAT(error_of([] { grpo_config_from_json(json{{"reward", {{"visual_term", "PSNR"}}}}); }),
             Catch::Contains("PSNR"));
}

TEST_CASE("GRPO: a reward term without its weights stops the run before step 1", "[grpo_loop]") {
  json j = project_config();
  const std::string out = (stdfs::temp_directory_path() / "mtk-grpo-noweights").string();
  stdfs::remove_all(out);
  mtk::config::apply_overrides(j, {"reward.code_term=CBB", "codebert_model=" + out + "/codebert-base", "output_dir=" + out});
  const GrpoConfig c = grpo_config_from_json(j);
  const std::string e = error_of([&] { mtk::train::run_grpo(c, false); });
  CHECK_THAT(e, Catch::Contains("CodeBERT for CBB"));
  CHECK_THAT(e, Catch::Contains("scripts/fetch_models.sh codebert"));
  CHECK_FALSE(stdfs::exists(out));  // nothing was started
}

TEST_CASE("GRPO: a real step of SmolLM2 with renders", "[grpo_loop][slow]") {
  const stdfs::path model = mtk::fs::project_root() / "models" / "SmolLM2-135M-Instruct.Q4_1.gguf";
  if (!stdfs::exists(model)) {
    WARN("skipped: no " << model.string() << " (scripts/fetch_models.sh smollm2)");
    return;
  }
  const stdfs::path out = stdfs::temp_directory_path() / "mtk-grpo-step";
  stdfs::remove_all(out);
  json j = project_config();
  // A learning rate that moves a fresh adapter visibly in one update (the paper's 5e-7 after a
  // warm-up step at 0 moves it by about 1e-7).
  mtk::config::apply_overrides(j, {"model=" + model.string(), "output_dir=" + out.string(), "num_generations=2",
                                   "prompts_per_step=1", "num_iterations=2", "max_steps=1",
                                   "max_completion_length=48", "lr=1e-4", "warmup_ratio=0", "save_every=1"});
  const GrpoConfig cfg = grpo_config_from_json(j);
  const mtk::train::GrpoResult r = mtk::train::run_grpo(cfg, false);
  REQUIRE(r.steps == 1);
  REQUIRE(r.history.size() == 1);
  const auto& s = r.history[0];

  // The sampler's log-probs are the policy's at the first update: ratio 1 up to float32 rounding
  // of KV-cache decoding (quantised matmul kernels) against the training forward.
  INFO("max |old - new| " << s.first_update_max_logp_diff << ", mean " << s.first_update_mean_logp_diff);
  CHECK(s.first_update_mean_logp_diff < 1e-5);
  CHECK(std::abs(std::expm1(s.first_update_max_logp_diff)) < 1e-4);
  CHECK(s.lora_delta_norm > 0);

  // metrics.jsonl: one row under TRL's names.
  std::istringstream in(mtk::fs::read_file(out / "metrics.jsonl"));
  std::string line;
  std::vector<json> rows;
  while (std::getline(in, line))
    if (!line.empty()) rows.push_back(json::parse(line));
  REQUIRE(rows.size() == 1);
  const json& row = rows[0];
  for (const char* k : {"reward", "reward_std", "rewards/CodeBLEU/mean", "rewards/CodeBLEU/std", "rewards/FVS/mean",
                        "rewards/FVS/std", "frac_reward_zero_std", "kl", "entropy", "clip_ratio/low_mean",
                        "clip_ratio/high_mean", "clip_ratio/region_mean", "completions/mean_length",
                        "completions/clipped_ratio", "completions/mean_terminated_length", "render/success_rate",
                        "time/generation", "time/render", "time/metrics", "time/update", "tokens_per_s", "peak_rss_mb"}) {
    INFO(k);
    CHECK(row.contains(k));
  }
  CHECK(row["step"].get<double>() == 1);
  CHECK(row["completions/max_length"].get<double>() <= 48);
  CHECK(row["render/ref_success_rate"].get<double>() == 1);  // the reference renders in the sandbox
  CHECK(row["kl"].get<double>() >= 0);
  CHECK(row["reward"].get<double>() >= 0);
  CHECK(row.contains("render_failures"));
  const std::string csv = mtk::fs::read_file(out / "metrics.csv");
  CHECK(csv.rfind("step,epoch,loss,grad_norm,learning_rate,num_tokens,reward,reward_std,frac_reward_zero_std", 0) == 0);

  // Checkpoint and exports; the exported adapter differs from a fresh one (B was zero).
  CHECK(stdfs::exists(out / "checkpoint-1" / "trainer_state.json"));
  CHECK(stdfs::exists(out / "checkpoint-1" / "trainer_tensors.safetensors"));
  CHECK(stdfs::exists(out / "adapter" / "adapter_config.json"));
  CHECK(stdfs::exists(out / "adapter.gguf"));
  const auto st = mtk::llm::SafetensorsFile::open((out / "adapter" / "adapter_model.safetensors").string());
  const auto* b = st.find("base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight");
  REQUIRE(b);
  std::vector<float> v(b->n_elements);
  mtk::llm::safetensor_to_f32(*b, v.data());
  double norm = 0;
  for (float x : v) norm += static_cast<double>(x) * x;
  CHECK(norm > 0);
  stdfs::remove_all(out);
}
