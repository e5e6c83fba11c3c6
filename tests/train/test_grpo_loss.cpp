// The GRPO objective (train/grpo_loss.hpp): values worked out by hand on crafted batches (first
// update, clipping on both sides, delta, k3 KL, each loss_type's normaliser, sequence-level ratios,
// advantages, truncated completions), then parity with TRL itself: tests/train/fixtures/grpo_trl.json
// was written by tests/train/make_grpo_fixture.py running TRL 1.16.0's GRPOTrainer._compute_loss and
// _generate_and_score_completions (with transformers 5.25.0 and torch 2.15.0, as the fixture's
// "versions" records) on fixed inputs; loss, metrics, d loss / d logp and advantages agree within 1e-5.
#include <ATen/ATen.h>

#include <catch2/catch.hpp>
#include <cmath>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>

#include "mtk/core/error.hpp"
#include "mtk/core/fs.hpp"
#include "mtk/train/grpo_loss.hpp"
#include "mtk/train/grpo_loss_torch.hpp"

using namespace mtk;
using namespace mtk::train;

namespace {

at::Tensor tensor2d(const std::vector<std::vector<double>>& rows, at::ScalarType dt = at::kFloat) {
  const int64_t n = int64_t(rows.size()), m = n ? int64_t(rows[0].size()) : 0;
  std::vector<double> flat;
  for (const auto& r : rows) flat.insert(flat.end(), r.begin(), r.end());
  return at::tensor(flat, at::kDouble).reshape({n, m}).to(dt);
}

at::Tensor tensor1d(const std::vector<double>& v) { return at::tensor(v, at::kDouble).to(at::kFloat); }

// The crafted batch: 2 completions of 4 tokens, row 0 with one padding token, advantages +1 / -1 and
// old log-probs chosen so that the ratios r = exp(logp - old) are
//   row 0 (A = +1): 1.5 (high-clipped), 1.1, 0.5 (below 1 - eps but A > 0: not clipped), [2.0 padding]
//   row 1 (A = -1): 0.5 (low-clipped), 1.5 (above 1 + eps but A < 0: not clipped), 0.9, 1.0
struct Crafted {
  at::Tensor logp, old, mask, adv;
};
Crafted crafted() {
  Crafted c;
  c.logp = tensor2d({{-1.0, -0.5, -2.0, -1.5}, {-0.7, -1.2, -0.3, -2.5}}).requires_grad_(true);
  const at::Tensor ratio = tensor2d({{1.5, 1.1, 0.5, 2.0}, {0.5, 1.5, 0.9, 1.0}});
  c.old = c.logp.detach() - at::log(ratio);
  c.mask = tensor2d({{1, 1, 1, 0}, {1, 1, 1, 1}}, at::kLong);
  c.adv = tensor1d({1.0, -1.0});
  return c;
}

GrpoLossInputs inputs_of(const Crafted& c) {
  GrpoLossInputs in;
  in.logp = c.logp;
  in.old_logp = c.old;
  in.mask = c.mask;
  in.advantages = c.adv;
  in.num_items_in_batch = 20;
  return in;
}

at::Tensor grad_of(const at::Tensor& loss, const at::Tensor& logp) {
  if (logp.grad().defined()) logp.mutable_grad().zero_();
  loss.backward();
  return logp.grad().clone();
}

double at2(const at::Tensor& t, int64_t i, int64_t j) { return t.index({i, j}).item<double>(); }

}  // namespace

TEST_CASE("grpo: first update has ratio 1, KL 0 and gradient -A / normaliser", "[grpo]") {
  const at::Tensor logp = tensor2d({{-1.0, -0.5, -2.0}, {-0.7, -1.2, -0.3}}).requires_grad_(true);
  GrpoLossInputs in;
  in.logp = logp;
  in.ref_logp = logp.detach().clone();  // the reference is the policy at the start
  in.mask = tensor2d({{1, 1, 1}, {1, 1, 0}});
  in.advantages = tensor1d({0.6, -0.4});
  in.entropies = tensor2d({{1.0, 2.0, 3.0}, {4.0, 5.0, 100.0}});
  GrpoLossConfig cfg;
  cfg.loss_type = GrpoLossType::grpo;
  cfg.beta = 0.04;
  for (bool bias : {true, false}) {
    cfg.use_bias_correction_kl = bias;
    const GrpoLossOutput out = grpo_loss(cfg, in);
    // l_t = -min(1 * A, 1 * A) + beta * 0 = -A; grpo: mean over sequences of the token means.
    CHECK(out.loss.item<double>() == Approx((-0.6 + 0.4) / 2).margin(1e-7));
    CHECK(at2(out.per_token_loss, 0, 0) == Approx(-0.6));
    CHECK(at2(out.per_token_loss, 1, 2) == Approx(0.4));
    REQUIRE(out.metrics.kl);
    CHECK(*out.metrics.kl == 0.0);
    REQUIRE(out.metrics.entropy);
    CHECK(*out.metrics.entropy == Approx(15.0 / 5));  // the padding token's 100 left out
    CHECK(out.metrics.clip_region_mean == 0.0);
    // d/dlogp of -exp(logp - logp.detach()) A is -A; the k3 KL has zero slope at ref == logp (and
    // with bias correction kl * r adds kl * dr = 0). grpo: divided by tokens of the row and by B.
    const at::Tensor g = grad_of(out.loss, logp);
    CHECK(at2(g, 0, 1) == Approx(-0.6 / 3 / 2));
    CHECK(at2(g, 1, 0) == Approx(0.4 / 2 / 2));
    CHECK(at2(g, 1, 2) == 0.0);
  }
  // Without old log-probs and with old == logp the same.
  in.old_logp = logp.detach();
  CHECK(grpo_loss(cfg, in).loss.item<double>() == Approx(-0.1).margin(1e-7));
}

TEST_CASE("grpo: clipping on both sides, counted as TRL counts it", "[grpo]") {
  const Crafted c = crafted();
  GrpoLossConfig cfg;
  cfg.loss_type = GrpoLossType::bnpo;
  const GrpoLossOutput out = grpo_loss(cfg, inputs_of(c));
  // Per token -min(r A, clamp(r, 0.8, 1.2) A):
  //   row 0: -min(1.5, 1.2) = -1.2, -1.1, -min(0.5, 0.8) = -0.5
  //   row 1: -min(-0.5, -0.8) = 0.8, -min(-1.5, -1.2) = 1.5, 0.9, 1.0
  const double want[2][4] = {{-1.2, -1.1, -0.5, 0}, {0.8, 1.5, 0.9, 1.0}};
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 3 + i; ++j) CHECK(at2(out.per_token_loss, i, j) == Approx(want[i][j]).epsilon(1e-5));
  // 7 active tokens: one low-clipped (row 1 token 0), one high-clipped (row 0 token 0); the padding
  // token's ratio 2.0 would be high-clipped but is masked.
  CHECK(out.metrics.clip_low_mean == Approx(1.0 / 7));
  CHECK(out.metrics.clip_high_mean == Approx(1.0 / 7));
  CHECK(out.metrics.clip_region_mean == Approx(2.0 / 7));
  CHECK(out.metrics.clip_low_min == 0.0);                // row 0 has no low-clipped token
  CHECK(out.metrics.clip_high_max == Approx(1.0 / 3));   // row 0: 1 of 3 active tokens
  CHECK_FALSE(out.metrics.kl);
  // Gradients (bnpo: / 7): clipped tokens get none, the others -r A.
  const at::Tensor g = grad_of(out.loss, c.logp);
  CHECK(at2(g, 0, 0) == 0.0);
  CHECK(at2(g, 1, 0) == 0.0);
  CHECK(at2(g, 0, 2) == Approx(-0.5 / 7).epsilon(1e-5));
  CHECK(at2(g, 1, 1) == Approx(1.5 / 7).epsilon(1e-5));
  CHECK(at2(g, 0, 3) == 0.0);

  SECTION("delta caps the unclipped ratio (two-sided clipping)") {
    cfg.delta = 1.3;
    const GrpoLossOutput d = grpo_loss(cfg, inputs_of(c));
    CHECK(at2(d.per_token_loss, 1, 1) == Approx(1.3).epsilon(1e-5));  // -min(-1.3, -1.2)
    CHECK(d.loss.item<double>() == Approx((-2.8 + 0.8 + 1.3 + 0.9 + 1.0) / 7).epsilon(1e-5));
    CHECK(at2(grad_of(d.loss, c.logp), 1, 1) == 0.0);
  }
  SECTION("epsilon_high widens the upper side only") {
    cfg.epsilon_high = 0.6;
    const GrpoLossOutput h = grpo_loss(cfg, inputs_of(c));
    CHECK(at2(h.per_token_loss, 0, 0) == Approx(-1.5).epsilon(1e-5));
    CHECK(h.metrics.clip_high_mean == 0.0);
    CHECK(h.metrics.clip_low_mean == Approx(1.0 / 7));
  }
}

TEST_CASE("grpo: each loss_type's normaliser", "[grpo]") {
  const Crafted c = crafted();
  // Masked sums: row 0 -1.2 - 1.1 - 0.5 = -2.8 over 3 tokens, row 1 0.8 + 1.5 + 0.9 + 1.0 = 4.2 over 4.
  GrpoLossConfig cfg;
  cfg.max_completion_length = 8;
  const std::map<GrpoLossType, double> want = {
      {GrpoLossType::grpo, (-2.8 / 3 + 4.2 / 4) / 2},  // token mean per row, mean over rows
      {GrpoLossType::bnpo, 1.4 / 7},                   // active tokens of the batch
      {GrpoLossType::dr_grpo, 1.4 / (2 * 8)},          // B * max_completion_length
      {GrpoLossType::dapo, 1.4 / 20},                  // num_items_in_batch = 20
  };
  for (const auto& [type, value] : want) {
    cfg.loss_type = type;
    CAPTURE(to_string(type));
    CHECK(grpo_loss(cfg, inputs_of(c)).loss.item<double>() == Approx(value).epsilon(1e-5));
    cfg.grad_accum_steps = 2;  // grpo, bnpo, dr_grpo halve; dapo's count already spans the window
    CHECK(grpo_loss(cfg, inputs_of(c)).loss.item<double>() ==
          Approx(type == GrpoLossType::dapo ? value : value / 2).epsilon(1e-5));
    cfg.grad_accum_steps = 1;
  }
  // dapo's count is clamped to 1 (every completion masked: loss 0).
  cfg.loss_type = GrpoLossType::dapo;
  GrpoLossInputs in = inputs_of(c);
  in.mask = at::zeros_like(c.mask);
  in.num_items_in_batch = 0;
  CHECK(grpo_loss(cfg, in).loss.item<double>() == 0.0);
}

TEST_CASE("grpo: k3 KL and its bias correction", "[grpo]") {
  const at::Tensor logp = tensor2d({{-1.0, -2.0}}).requires_grad_(true);
  GrpoLossInputs in;
  in.logp = logp;
  in.old_logp = logp.detach() - std::log(1.1);  // ratio 1.1 on both tokens
  in.ref_logp = tensor2d({{-0.5, -2.0}});       // ref - logp = 0.5, 0
  in.mask = tensor2d({{1, 1}});
  in.advantages = tensor1d({0.0});
  GrpoLossConfig cfg;
  cfg.loss_type = GrpoLossType::bnpo;
  cfg.beta = 0.1;
  const double k3 = std::exp(0.5) - 0.5 - 1;  // 0.148721...
  cfg.use_bias_correction_kl = false;
  GrpoLossOutput out = grpo_loss(cfg, in);
  CHECK(*out.metrics.kl == Approx(k3 / 2).epsilon(1e-5));
  CHECK(out.loss.item<double>() == Approx(0.1 * k3 / 2).epsilon(1e-5));
  // d k3 / d logp = 1 - exp(ref - logp)
  CHECK(at2(grad_of(out.loss, logp), 0, 0) == Approx(0.1 * (1 - std::exp(0.5)) / 2).epsilon(1e-5));
  cfg.use_bias_correction_kl = true;  // kl * r: value and slope scaled by r, plus kl * dr/dlogp = kl * r
  out = grpo_loss(cfg, in);
  CHECK(*out.metrics.kl == Approx(1.1 * k3 / 2).epsilon(1e-5));
  CHECK(at2(grad_of(out.loss, logp), 0, 0) ==
        Approx(0.1 * 1.1 * ((1 - std::exp(0.5)) + k3) / 2).epsilon(1e-5));
}

TEST_CASE("grpo: sequence-level importance sampling (GSPO)", "[grpo]") {
  // Log-ratios 0.1 and 0.3 (and a padding token with 5): r = exp(mean) = exp(0.2) = 1.2214 > 1.2.
  const at::Tensor logp = tensor2d({{-1.0, -1.0, -1.0}, {-1.0, -1.0, -1.0}}).requires_grad_(true);
  GrpoLossInputs in;
  in.logp = logp;
  in.old_logp = logp.detach() - tensor2d({{0.1, 0.3, 5.0}, {0.0, 0.0, 0.0}});
  in.mask = tensor2d({{1, 1, 0}, {1, 1, 1}});
  in.advantages = tensor1d({1.0, 0.5});
  GrpoLossConfig cfg;
  cfg.loss_type = GrpoLossType::grpo;
  cfg.importance_sampling_level = ImportanceSamplingLevel::sequence;
  const GrpoLossOutput out = grpo_loss(cfg, in);
  CHECK(out.loss.item<double>() == Approx((-1.2 - 0.5) / 2).epsilon(1e-5));
  CHECK(out.metrics.clip_high_mean == Approx(0.5));  // 1 of 2 sequences
  CHECK(out.metrics.clip_high_max == Approx(1.0));
  // Row 1 unclipped: d/dlogp_t of -exp(mean_t(logp - old)) A = -A / 3 per token, / 2 rows.
  const at::Tensor g = grad_of(out.loss, logp);
  CHECK(at2(g, 1, 2) == Approx(-0.5 / 3 / 2).epsilon(1e-5));
  CHECK(at2(g, 0, 0) == 0.0);
}

TEST_CASE("grpo: advantages per group, per batch, unscaled", "[grpo]") {
  const std::vector<double> r = {1, 2, 3, 4, 5, 5, 5, 5};
  // Group 0: mean 2.5, unbiased std sqrt((2.25 + 0.25 + 0.25 + 2.25) / 3) = sqrt(5/3).
  const double s0 = std::sqrt(5.0 / 3);
  GrpoAdvantages a = grpo_advantages(r, 4, ScaleRewards::group);
  CHECK(a.advantages[0] == Approx(-1.5 / (s0 + 1e-4)));
  CHECK(a.advantages[3] == Approx(1.5 / (s0 + 1e-4)));
  for (int i = 4; i < 8; ++i) CHECK(a.advantages[i] == 0.0);  // zero-variance group
  CHECK(a.frac_reward_zero_std == 0.5);
  CHECK(a.reward == Approx(30.0 / 8));
  // Batch: mean 3.75, sum of squares 7.5625 + 3.0625 + 0.5625 + 0.0625 + 4 * 1.5625 = 17.5.
  const double sb = std::sqrt(17.5 / 7);
  CHECK(a.reward_std == Approx(sb));
  a = grpo_advantages(r, 4, ScaleRewards::batch);
  CHECK(a.advantages[1] == Approx(-0.5 / (sb + 1e-4)));
  for (int i = 4; i < 8; ++i) CHECK(a.advantages[i] == 0.0);
  CHECK(a.frac_reward_zero_std == 0.0);
  a = grpo_advantages(r, 4, ScaleRewards::none);
  CHECK(a.advantages[0] == -1.5);
  CHECK(a.advantages[2] == 0.5);
  CHECK(a.frac_reward_zero_std == 0.5);
  // Equal rewards whose mean does not round back exactly still give 0.
  a = grpo_advantages({0.1, 0.1, 0.1}, 3, ScaleRewards::group);
  for (double v : a.advantages) CHECK(v == 0.0);
  // An unscorable completion (NaN) is left out of mean and std, and gets 0.
  const double nan = std::numeric_limits<double>::quiet_NaN();
  a = grpo_advantages({1, nan, 3, 8}, 4, ScaleRewards::none);
  CHECK(a.advantages[1] == 0.0);
  CHECK(a.advantages[0] == Approx(1 - 4.0));
  CHECK_THROWS_AS(grpo_advantages({1, 2, 3}, 2, ScaleRewards::group), mtk::Error);
}

TEST_CASE("grpo: truncated completions are masked", "[grpo]") {
  const std::vector<std::vector<int32_t>> comps = {{5, 6, 1}, {5, 6, 7}, {5, 0}, {}, {9, 2}};
  const std::vector<bool> t = truncated_completions(comps, {1, 2}, 0);
  CHECK(t == std::vector<bool>{false, true, false, true, false});
  CHECK(truncated_completions({{5, 0}}, {1}, std::nullopt) == std::vector<bool>{true});
  const at::Tensor m = at::ones({5, 3}, at::kLong);
  const at::Tensor mm = mask_truncated(m, t);
  CHECK(mm.scalar_type() == at::kLong);
  CHECK(mm.sum(1).equal(at::tensor(std::vector<int64_t>{3, 0, 3, 0, 3})));
  // A masked completion contributes nothing to the loss or its gradient.
  const Crafted c = crafted();
  GrpoLossInputs in = inputs_of(c);
  in.mask = mask_truncated(c.mask, {false, true});
  GrpoLossConfig cfg;
  cfg.loss_type = GrpoLossType::bnpo;
  const GrpoLossOutput out = grpo_loss(cfg, in);
  CHECK(out.loss.item<double>() == Approx(-2.8 / 3).epsilon(1e-5));
  CHECK(grad_of(out.loss, c.logp).index({1}).abs().sum().item<double>() == 0.0);
}

TEST_CASE("grpo: names and user errors", "[grpo]") {
  for (auto t : {GrpoLossType::grpo, GrpoLossType::bnpo, GrpoLossType::dr_grpo, GrpoLossType::dapo})
    CHECK(parse_grpo_loss_type(to_string(t)) == t);
  CHECK(parse_scale_rewards("batch") == ScaleRewards::batch);
  CHECK(parse_importance_sampling_level("sequence") == ImportanceSamplingLevel::sequence);
  CHECK_THROWS_WITH(parse_grpo_loss_type("ppo"), Catch::Contains("grpo, bnpo, dr_grpo, dapo"));
  const Crafted c = crafted();
  GrpoLossConfig cfg;
  cfg.beta = 0.1;  // no ref_logp
  CHECK_THROWS_AS(grpo_loss(cfg, inputs_of(c)), mtk::Error);
  cfg.beta = 0;
  GrpoLossInputs in = inputs_of(c);
  in.num_items_in_batch = -1;  // dapo without the count
  CHECK_THROWS_AS(grpo_loss(cfg, in), mtk::Error);
  cfg.epsilon_low = 1.5;
  CHECK_THROWS_AS(validate(cfg), mtk::Error);
}

TEST_CASE("grpo: parity with TRL's GRPOTrainer", "[grpo]") {
  const auto fx = nlohmann::json::parse(fs::read_file(fs::project_root() / "tests/train/fixtures/grpo_trl.json"));
  INFO("fixture made with trl " << fx["versions"]["trl"].get<std::string>());
  const auto& inp = fx["inputs"];
  const auto t2 = [](const nlohmann::json& j) { return tensor2d(j.get<std::vector<std::vector<double>>>()); };
  const at::Tensor old = t2(inp["old_logp"]), ref = t2(inp["ref_logp"]), entropies = t2(inp["entropies"]);
  const at::Tensor mask = t2(inp["mask"]).to(at::kLong);
  const at::Tensor adv = tensor1d(inp["advantages"].get<std::vector<double>>());
  REQUIRE(fx["loss_cases"].size() >= 13);
  for (const auto& cs : fx["loss_cases"]) {
    const std::string name = cs["name"].get<std::string>();
    CAPTURE(name);
    const auto& jc = cs["config"];
    GrpoLossConfig cfg;
    cfg.loss_type = parse_grpo_loss_type(jc["loss_type"].get<std::string>());
    cfg.beta = jc.value("beta", 0.0);
    cfg.epsilon_low = jc.value("epsilon", 0.2);
    cfg.epsilon_high = jc.value("epsilon_high", cfg.epsilon_low);
    if (jc.contains("delta")) cfg.delta = jc["delta"].get<double>();
    cfg.use_bias_correction_kl = jc.value("use_bias_correction_kl", true);
    cfg.importance_sampling_level = parse_importance_sampling_level(jc.value("importance_sampling_level", "token"));
    cfg.max_completion_length = inp["max_completion_length"].get<int>();
    cfg.grad_accum_steps = cs["grad_accum_steps"].get<int>();
    GrpoLossInputs in;
    in.logp = t2(inp["logp"]).requires_grad_(true);
    if (cs["old_logp"].get<bool>()) in.old_logp = old;
    if (cfg.beta != 0) in.ref_logp = ref;
    in.mask = mask;
    in.advantages = adv;
    in.entropies = entropies;
    in.num_items_in_batch = cs["num_items_in_batch"].get<double>();
    const GrpoLossOutput out = grpo_loss(cfg, in);
    CHECK(out.loss.item<double>() == Approx(cs["loss"].get<double>()).margin(1e-5));
    // Every metric TRL logged, and no other.
    std::map<std::string, double> ours;
    for (const auto& [k, v] : grpo_metrics_named(out.metrics)) ours[k] = v;
    CHECK(ours.size() == cs["metrics"].size());
    for (const auto& [k, v] : cs["metrics"].items()) {
      CAPTURE(k);
      REQUIRE(ours.count(k));
      CHECK(ours[k] == Approx(v.get<double>()).margin(1e-5));
    }
    const at::Tensor g = grad_of(out.loss, in.logp);
    const at::Tensor want = t2(cs["grad_logp"]);
    CHECK((g - want).abs().max().item<double>() < 1e-5);
  }
  REQUIRE(fx["advantage_cases"].size() >= 4);
  for (const auto& cs : fx["advantage_cases"]) {
    std::vector<double> rewards;
    for (const auto& r : cs["rewards"])
      rewards.push_back(r.is_null() ? std::numeric_limits<double>::quiet_NaN() : r.get<double>());
    const std::string scale = cs["scale_rewards"].get<std::string>();
    CAPTURE(scale, rewards);
    const GrpoAdvantages a = grpo_advantages(rewards, cs["num_generations"].get<int>(), parse_scale_rewards(scale));
    const auto want = cs["advantages"].get<std::vector<double>>();
    REQUIRE(a.advantages.size() == want.size());
    for (size_t i = 0; i < want.size(); ++i) CHECK(a.advantages[i] == Approx(want[i]).margin(1e-5));
    CHECK(a.reward == Approx(cs["metrics"]["reward"].get<double>()).margin(1e-5));
    CHECK(a.reward_std == Approx(cs["metrics"]["reward_std"].get<double>()).margin(1e-5));
    CHECK(a.frac_reward_zero_std == Approx(cs["metrics"]["frac_reward_zero_std"].get<double>()).margin(1e-9));
  }
}
