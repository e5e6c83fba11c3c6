// The GRPO recipe (train/grpo.hpp): its configuration, the reward check before step 1, and a real
// step of SmolLM2-135M-Instruct (Q4_1) with real renders in the sandbox.
#include <ATen/ATen.h>
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
#include "mtk/train/grpo_loss_torch.hpp"

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

// The real model, or "" (with a warning) when it has not been fetched.
stdfs::path smollm2() {
  const stdfs::path model = mtk::fs::project_root() / "models" / "SmolLM2-135M-Instruct.Q4_1.gguf";
  if (stdfs::exists(model)) return model;
  WARN("skipped: no " << model.string() << " (scripts/fetch_models.sh smollm2)");
  return {};
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

TEST_CASE("GRPO: per-sequence backward gives the batch loss's gradient for every loss_type", "[grpo_loop]") {
  using namespace mtk::train;
  at::manual_seed(7);
  const int64_t B = 4, T = 6;
  const at::Tensor base = at::randn({B, T}, at::kDouble) * 0.1 - 1.0;
  const at::Tensor old = base + at::randn({B, T}, at::kDouble) * 0.2;
  const at::Tensor ref = base + at::randn({B, T}, at::kDouble) * 0.1;
  at::Tensor mask = at::ones({B, T}, at::kDouble);
  mask.narrow(0, 1, 1).narrow(1, 3, 3).zero_();  // a shorter completion
  mask.narrow(0, 2, 1).zero_();                  // a masked one (truncated)
  const at::Tensor adv = at::tensor({0.5, -1.0, 0.3, 0.2}, at::kDouble);
  for (const char* type : {"grpo", "bnpo", "dr_grpo", "dapo"}) {
    INFO(type);
    GrpoLossConfig lc;
    lc.loss_type = parse_grpo_loss_type(type);
    lc.beta = 0.005;
    lc.max_completion_length = T;
    const double active_total = mask.sum().item<double>();
    GrpoLossInputs in{base.clone().requires_grad_(true), old, ref, mask, adv, at::Tensor(), active_total};
    const at::Tensor whole = grpo_loss(lc, in).loss;
    whole.backward();
    const at::Tensor g_whole = in.logp.grad().clone();
    at::Tensor lp = base.clone().requires_grad_(true);
    double sum = 0;
    for (int64_t i = 0; i < B; ++i) {
      GrpoLossInputs one{lp.narrow(0, i, 1),  old.narrow(0, i, 1), ref.narrow(0, i, 1), mask.narrow(0, i, 1),
                         adv.narrow(0, i, 1), at::Tensor(),        active_total};
      const at::Tensor l = grpo_loss(lc, one).loss *
                           grpo_sequence_share(lc.loss_type, B, mask.narrow(0, i, 1).sum().item<double>(), active_total);
      l.backward();
      sum += l.item<double>();
    }
    CHECK(sum == Approx(whole.item<double>()).epsilon(1e-12));
    CHECK(at::allclose(lp.grad(), g_whole, 1e-12, 1e-14));
  }
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
  const stdfs::path model = smollm2();
  if (model.empty()) return;
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
  const json meta = json::parse(mtk::fs::read_file(out / "run_meta.json"));
  CHECK(meta.dump().find("manim-train grpo") != std::string::npos);
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

TEST_CASE("GRPO: interrupted after step 2, --resume from checkpoint 1 reproduces the uninterrupted run", "[grpo_loop][slow][resume]") {
  const stdfs::path model = smollm2();
  if (model.empty()) return;
  const stdfs::path root = stdfs::temp_directory_path() / "mtk-grpo-resume";
  stdfs::remove_all(root);
  auto config = [&](const std::string& dir) {
    json j = project_config();
    mtk::config::apply_overrides(j, {"model=" + model.string(), "output_dir=" + (root / dir).string(),
                                     "num_generations=2", "prompts_per_step=1", "num_iterations=2", "max_steps=3",
                                     "max_completion_length=24", "lr=1e-4", "save_every=1"});
    return grpo_config_from_json(j);
  };
  const auto a = mtk::train::run_grpo(config("a"), false);
  REQUIRE(a.steps == 3);
  mtk::train::GrpoRunOptions crash;
  crash.crash_after_step = 2;
  const auto b1 = mtk::train::run_grpo(config("b"), false, crash);
  REQUIRE(b1.crashed);
  REQUIRE(stdfs::exists(root / "b" / "checkpoint-1"));
  REQUIRE_FALSE(stdfs::exists(root / "b" / "checkpoint-2"));  // the "kill" came before step 2's checkpoint
  const auto b2 = mtk::train::run_grpo(config("b"), true);
  REQUIRE(b2.steps == 3);
  REQUIRE(b2.history.size() == 2);  // steps 2 and 3 again

  // The same rows (times and memory aside) and the same adapter, bit for bit.
  auto rows = [&](const std::string& dir) {
    std::vector<json> out;
    std::istringstream in(mtk::fs::read_file(root / dir / "metrics.jsonl"));
    std::string line;
    while (std::getline(in, line)) {
      if (line.empty()) continue;
      json r = json::parse(line);
      for (auto it = r.begin(); it != r.end();)
        it = (it.key().rfind("time/", 0) == 0 || it.key() == "tokens_per_s" || it.key().find("rss") != std::string::npos)
                 ? r.erase(it)
                 : std::next(it);
      out.push_back(r);
    }
    return out;
  };
  const auto ra = rows("a"), rb = rows("b");
  REQUIRE(ra.size() == 3);
  REQUIRE(rb.size() == 3);
  for (size_t i = 0; i < 3; ++i) CHECK(ra[i] == rb[i]);
  CHECK(mtk::fs::read_file(root / "a" / "adapter" / "adapter_model.safetensors") ==
        mtk::fs::read_file(root / "b" / "adapter" / "adapter_model.safetensors"));
  stdfs::remove_all(root);
}
