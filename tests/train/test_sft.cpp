// SFT (train/sft.hpp) on a tiny random-weight Llama with SmolLM2's real tokenizer and chat template
// and real ManimBench train tasks: the completion-only example layout, the validation split, the
// learning-rate schedule, that training lowers the loss, and that a run stopped after step 5
// (checkpoint at 4) and resumed logs the same losses, bit for bit, as an uninterrupted run.
#include <ATen/ATen.h>

#include <catch2/catch.hpp>
#include <cmath>
#include <filesystem>
#include <random>
#include <set>

#include "../core/run_meta_check.hpp"
#include "../llm/peer.hpp"
#include "mtk/core/config.hpp"
#include "mtk/core/error.hpp"
#include "mtk/core/fs.hpp"
#include "mtk/core/hash.hpp"
#include "mtk/data/dataset.hpp"
#include "mtk/data/prompt.hpp"
#include "mtk/llm/generate.hpp"
#include "mtk/llm/gguf.hpp"
#include "mtk/llm/lora_torch.hpp"
#include "mtk/llm/model.hpp"
#include "mtk/llm/tokenizer.hpp"
#include "mtk/train/sft.hpp"

using namespace mtk;
using namespace mtk::llm;
using namespace mtk::train;

namespace {

struct Tiny {
  std::unique_ptr<GgufFile> gguf;
  std::unique_ptr<Model> model;
  std::unique_ptr<Tokenizer> tok;
  ChatTemplateSpec chat;
};

// SmolLM2's tokenizer and template on a 2-layer, hidden-32 Llama with random weights.
Tiny& tiny() {
  static Tiny t = [] {
    Tiny x;
    x.gguf = std::make_unique<GgufFile>(GgufFile::open(mtk::test::smollm2_path().string()));
    x.tok = load_tokenizer(*x.gguf);
    x.chat = chat_template_spec(*x.gguf);
    ModelConfig c = config_from_gguf(*x.gguf);
    c.hidden = 32;
    c.n_layers = 2;
    c.n_heads = 4;
    c.n_kv_heads = 2;
    c.head_dim = 8;
    c.rope_dim = 8;
    c.intermediate = 64;
    c.layer_is_local.clear();
    c.finalize("tiny");
    std::mt19937_64 rng(1);
    std::normal_distribution<float> nd(0.0f, 1.0f);
    const TensorSource src = [&](const std::string& name) -> Weight {
      Weight w;
      std::vector<int64_t> shape;
      float sd = 0.2f, mean = 0.0f;
      if (name == "token_embd.weight") shape = {c.vocab_size, c.hidden}, sd = 0.5f;
      else if (name == "output.weight") return w;
      else if (name.find("norm") != std::string::npos) shape = {c.hidden}, mean = 1.0f, sd = 0.1f;
      else if (name.find("attn_q.") != std::string::npos) shape = {c.n_heads * c.head_dim, c.hidden};
      else if (name.find("attn_k.") != std::string::npos || name.find("attn_v.") != std::string::npos)
        shape = {c.n_kv_heads * c.head_dim, c.hidden};
      else if (name.find("attn_output.") != std::string::npos) shape = {c.hidden, c.n_heads * c.head_dim};
      else if (name.find("ffn_down.") != std::string::npos) shape = {c.hidden, c.intermediate};
      else if (name.find("ffn_") != std::string::npos) shape = {c.intermediate, c.hidden};
      else return w;
      if (name.find("bias") != std::string::npos) return w;
      at::Tensor t = at::empty(shape, at::kFloat);
      float* p = t.data_ptr<float>();
      for (int64_t i = 0; i < t.numel(); ++i) p[i] = mean + sd * nd(rng);
      w.dense = t;
      w.out = shape[0];
      w.in = shape.size() > 1 ? shape[1] : shape[0];
      return w;
    };
    x.model = Model::from_tensors(c, src, LoadOptions{}, "tiny");
    return x;
  }();
  return t;
}

std::vector<data::Task> manimbench_train(size_t n) {
  auto tasks = data::load_dataset(mtk::test::manimbench_path().string(), "train");
  REQUIRE(tasks.size() > n);
  for (const auto& t : tasks) REQUIRE(t.split == "train");
  // Short tasks keep the test fast.
  std::stable_sort(tasks.begin(), tasks.end(), [](const data::Task& a, const data::Task& b) {
    return a.code.size() + a.description.size() < b.code.size() + b.description.size();
  });
  tasks.resize(n);
  return tasks;
}

SftConfig tiny_config(const std::string& dir) {
  SftConfig c;
  c.output_dir = dir;
  c.max_length = 640;
  c.validation_fraction = 0.25;
  c.batch_size = 2;
  c.grad_accum = 1;
  c.epochs = 3;
  c.lr = 2e-2;
  c.warmup_ratio = 0.2;
  c.save_every = 2;
  c.keep_last = 2;
  c.seed = 5;
  return c;
}

}  // namespace

TEST_CASE("SFT examples: chat template, completion-only mask, EOS, truncation", "[sft]") {
  Tiny& t = tiny();
  const auto tasks = manimbench_train(3);
  const std::string sys = fs::read_file(fs::project_root() / "configs/prompts/paper/generate.system.txt");
  const std::string user = "Generate code for the following text script:\n<TEXT_SCRIPT>\n{description}\n</TEXT_SCRIPT>";
  const auto [prompt, completion] = sft_texts(t.chat, sys, user, tasks[0]);
  CHECK(prompt.find("<|im_start|>system\n") == 0);
  CHECK(prompt.size() > 11);
  CHECK(prompt.substr(prompt.size() - 22) == "<|im_start|>assistant\n");
  CHECK(completion == data::format_completion(tasks[0].code) + "<|im_end|>\n");
  CHECK(prompt.find("<TEXT_SCRIPT>\n" + tasks[0].description + "\n</TEXT_SCRIPT><|im_end|>") != std::string::npos);

  const SftExample ex = make_sft_example(*t.tok, t.chat, sys, user, tasks[0], 2048);
  REQUIRE_FALSE(ex.tokens.empty());
  CHECK_FALSE(ex.truncated);
  const std::vector<int32_t> p = t.tok->encode(prompt, true, true);
  CHECK(ex.prompt_len == static_cast<int64_t>(p.size()));
  CHECK(std::equal(p.begin(), p.end(), ex.tokens.begin()));
  const std::vector<int32_t> comp(ex.tokens.begin() + ex.prompt_len, ex.tokens.end());
  CHECK(t.tok->decode(comp, /*skip_special=*/false) == completion);
  // The end-of-turn token is a target (the model learns to stop); it is SmolLM2's EOS.
  const auto eog = end_of_generation_ids(*t.tok);
  CHECK(std::find(eog.begin(), eog.end(), comp[comp.size() - 2]) != eog.end());

  // keep_start truncation: the prompt stays whole, the completion's end goes.
  const int cut = static_cast<int>(ex.prompt_len) + 5;
  const SftExample tr = make_sft_example(*t.tok, t.chat, sys, user, tasks[0], cut);
  CHECK(tr.truncated);
  CHECK(tr.tokens.size() == static_cast<size_t>(cut));
  CHECK(std::equal(tr.tokens.begin(), tr.tokens.end(), ex.tokens.begin()));
  // A prompt that fills max_length leaves nothing to learn: dropped.
  CHECK(make_sft_example(*t.tok, t.chat, sys, user, tasks[0], static_cast<int>(ex.prompt_len)).tokens.empty());
}

TEST_CASE("validation split is carved from train, disjoint and seeded", "[sft]") {
  const auto tasks = manimbench_train(40);
  const auto [tr, va] = split_validation(tasks, 0.1, 42);
  CHECK(va.size() == 4);
  CHECK(tr.size() == 36);
  std::set<std::string> ids;
  for (const auto& x : tr) ids.insert(x.id);
  for (const auto& x : va) CHECK(ids.count(x.id) == 0);
  const auto again = split_validation(tasks, 0.1, 42);
  CHECK(again.second[0].id == va[0].id);
  const auto other = split_validation(tasks, 0.1, 43);
  bool differs = false;
  for (size_t i = 0; i < va.size(); ++i) differs = differs || other.second[i].id != va[i].id;
  CHECK(differs);
}

TEST_CASE("SFT config: JSON with dotted overrides, unknown keys rejected", "[sft]") {
  auto j = config::load_file((fs::project_root() / "configs/sft/smollm2-135m.json").string());
  config::apply_overrides(j, {"lr=1e-4", "lora.r=4", "max_steps=3"});
  const SftConfig c = sft_config_from_json(j);
  CHECK(c.lr == 1e-4);
  CHECK(c.lora.r == 4);
  CHECK(c.max_steps == 3);
  CHECK(c.lora.alpha == 16);
  const SftConfig paper = sft_config_from_json(config::load_file((fs::project_root() / "configs/paper/sft.json").string()));
  CHECK(paper.lr == 2e-6);
  CHECK(paper.warmup_ratio == 0.1);
  CHECK(paper.weight_decay == 0.01);
  CHECK(paper.max_length == 2048);
  CHECK(paper.lora.targets.size() == 7);
  config::apply_override(j, "learning_rate=1");
  CHECK_THROWS_AS(sft_config_from_json(j), Error);
  // crash_after_step, a test hook older runs wrote into config.json, loads (ignored, with a
  // warning) and is not written back.
  auto old_run = to_json(c);
  CHECK_FALSE(old_run.contains("crash_after_step"));
  old_run["crash_after_step"] = 7;
  CHECK(to_json(sft_config_from_json(old_run)) == to_json(c));
}

TEST_CASE("SFT: loss falls, schedule, and kill + resume reproduces the uninterrupted run", "[sft][resume]") {
  Tiny& t = tiny();
  const auto tasks = manimbench_train(10);
  const auto root = fs::make_temp_dir(std::filesystem::temp_directory_path(), "mtk-sft-");
  // Uninterrupted: 8 train examples, 2 per step, 3 epochs = 12 steps.
  SftConfig a = tiny_config((root / "a").string());
  const SftResult ra = run_sft(a, *t.model, *t.tok, t.chat, tasks, false, "tiny");
  REQUIRE(ra.total_steps == 12);
  REQUIRE(ra.history.size() == 12);
  const int warm = 3;  // ceil(0.2 * 12)
  for (const auto& h : ra.history) {
    const int s = h.step - 1;
    const double want = s < warm ? a.lr * s / warm : a.lr * (12.0 - s) / (12 - warm);
    CHECK(h.lr == Approx(want).epsilon(1e-12));
  }
  double first = 0, last = 0;
  for (int i = 0; i < 4; ++i) first += ra.history[static_cast<size_t>(i)].loss;
  for (int i = 8; i < 12; ++i) last += ra.history[static_cast<size_t>(i)].loss;
  INFO("epoch 1 loss " << first / 4 << ", epoch 3 loss " << last / 4);
  CHECK(last < first * 0.9);
  CHECK(ra.best_val_loss > 0);
  CHECK(std::filesystem::exists(root / "a" / "best" / "adapter_model.safetensors"));
  CHECK(std::filesystem::exists(root / "a" / "adapter" / "adapter_config.json"));
  CHECK(std::filesystem::exists(root / "a" / "metrics.csv"));
  // A model built in memory has no file to hash: run_meta.json names it only.
  const auto meta = nlohmann::json::parse(fs::read_file(root / "a" / "run_meta.json"));
  CHECK(meta["models"][0]["name"] == "tiny");
  CHECK(meta["models"][0]["sha256"].is_null());
  auto resolved = nlohmann::json::parse(fs::read_file(root / "a" / "config.json"));
  resolved["resume"] = false;
  CHECK(meta["config"] == resolved);
  // keep_last 2: checkpoints 10 and 12 remain.
  CHECK_FALSE(std::filesystem::exists(root / "a" / "checkpoint-8"));
  CHECK(std::filesystem::exists(root / "a" / "checkpoint-10" / "trainer_state.json"));
  CHECK(std::filesystem::exists(root / "a" / "checkpoint-12" / "trainer_tensors.safetensors"));

  // Killed after step 7 (last checkpoint at 6, mid-epoch 2), then resumed.
  SftConfig b = tiny_config((root / "b").string());
  SftRunOptions crash;
  crash.crash_after_step = 7;
  const SftResult rb1 = run_sft(b, *t.model, *t.tok, t.chat, tasks, false, "tiny", crash);
  CHECK(rb1.crashed);
  CHECK(rb1.history.size() == 7);
  // The test hook is not part of the configuration the run writes.
  CHECK_FALSE(nlohmann::json::parse(fs::read_file(root / "b" / "config.json")).contains("crash_after_step"));
  const SftResult rb = run_sft(b, *t.model, *t.tok, t.chat, tasks, true, "tiny");
  REQUIRE(rb.history.size() == 12);
  for (size_t i = 0; i < 12; ++i) {
    INFO("step " << i + 1);
    CHECK(rb.history[i].loss == ra.history[i].loss);
    CHECK(rb.history[i].grad_norm == ra.history[i].grad_norm);
    CHECK(rb.history[i].val_loss == ra.history[i].val_loss);
  }
  CHECK(fs::read_file(root / "a" / "adapter" / "adapter_model.safetensors") ==
        fs::read_file(root / "b" / "adapter" / "adapter_model.safetensors"));
  // The resumed run's run_meta.json keeps the interrupted segment's.
  const auto meta_b = nlohmann::json::parse(fs::read_file(root / "b" / "run_meta.json"));
  CHECK(meta_b["config"]["resume"] == true);
  REQUIRE(meta_b["previous"].size() == 1);
  CHECK(meta_b["previous"][0]["config"]["resume"] == false);
  // Resuming with other settings is refused.
  SftConfig c = b;
  c.lr = 1e-3;
  CHECK_THROWS_AS(run_sft(c, *t.model, *t.tok, t.chat, tasks, true, "tiny"), Error);
  // threads and gradient_checkpointing change the numbers too: refused, naming the setting, both
  // values and the fix.
  c = b;
  c.threads = b.threads + 1;
  try {
    run_sft(c, *t.model, *t.tok, t.chat, tasks, true, "tiny");
    FAIL("a resume with other threads was accepted");
  } catch (const Error& e) {
    const std::string what = e.what();
    CHECK_THAT(what, Catch::Contains("threads was " + std::to_string(b.threads) + ", now " + std::to_string(c.threads)));
    CHECK_THAT(e.fix(), Catch::Contains("--set threads=" + std::to_string(b.threads)));
    CHECK_THAT(e.fix(), Catch::Contains("another output_dir"));
  }
  c = b;
  c.gradient_checkpointing = true;
  CHECK_THROWS_WITH(run_sft(c, *t.model, *t.tok, t.chat, tasks, true, "tiny"),
                    Catch::Contains("gradient_checkpointing was false, now true"));
  c = b;
  c.lora.r = 4;
  CHECK_THROWS_WITH(run_sft(c, *t.model, *t.tok, t.chat, tasks, true, "tiny"), Catch::Contains("lora.r was 8, now 4"));
  // threads=0 takes every hardware thread: a checkpoint written with another count (another
  // machine, here its trainer_state.json edited to say so) is refused too.
  {
    const auto state_path = root / "b" / "checkpoint-12" / "trainer_state.json";
    const std::string saved = fs::read_file(state_path);
    auto state = nlohmann::json::parse(saved);
    const int other = state["threads_used"].get<int>() + 1;
    state["threads_used"] = other;
    fs::atomic_write(state_path, state.dump());
    try {
      run_sft(b, *t.model, *t.tok, t.chat, tasks, true, "tiny");
      FAIL("a resume with another thread count was accepted");
    } catch (const Error& e) {
      CHECK_THAT(std::string(e.what()), Catch::Contains("trained with " + std::to_string(other) + " threads"));
      CHECK_THAT(e.fix(), Catch::Contains("--set threads=" + std::to_string(other)));
    }
    fs::atomic_write(state_path, saved);
  }
  // How often a run is checkpointed does not change its numbers: accepted (the run is complete).
  c = b;
  c.save_every = 3;
  CHECK(run_sft(c, *t.model, *t.tok, t.chat, tasks, true, "tiny").history.size() == 12);
  std::filesystem::remove_all(root);
}

TEST_CASE("SFT run_meta.json: revision, versions and the real base model's sha256", "[sft][meta]") {
  const auto root = fs::make_temp_dir(std::filesystem::temp_directory_path(), "mtk-sft-meta-");
  SftConfig c;
  c.model = mtk::test::smollm2_path().string();
  c.dataset = mtk::test::manimbench_path().string();
  c.output_dir = root.string();
  c.max_length = 400;
  c.batch_size = 1;
  c.max_train_examples = 2;
  c.max_val_examples = 1;
  c.max_steps = 1;
  c.threads = 2;
  const SftResult r = run_sft(c, false);
  CHECK(r.steps == 1);
  const auto meta = nlohmann::json::parse(fs::read_file(root / "run_meta.json"));
  mtk::test::check_run_meta(meta, "manim-train sft");
  CHECK(meta["config"]["max_steps"] == 1);
  CHECK(meta["config"]["threads"] == 2);
  REQUIRE(meta["models"].size() == 1);
  CHECK(meta["models"][0]["path"] == std::filesystem::absolute(mtk::test::smollm2_path()).lexically_normal().string());
  CHECK(meta["models"][0]["sha256"] == sha256_hex(fs::read_file(mtk::test::smollm2_path())));
  std::filesystem::remove_all(root);
}

TEST_CASE("SFT steps match transformers + peft on the tiny random Llama (10 steps, 1e-4)", "[sft][parity]") {
  // tests/train/make_peft_fixture.py wrote the fixture (same base, data, initial adapter, recipe).
  const auto fix = fs::project_root() / "tests/train/fixtures/peft_sft";
  const auto d = nlohmann::json::parse(fs::read_file(fix / "data.json"));
  auto model = Model::load((fs::project_root() / "tests/llm/fixtures/hf/llama").string());
  std::vector<SftExample> train;
  for (size_t i = 0; i < d["sequences"].size(); ++i) {
    SftExample ex;
    ex.id = std::to_string(i);
    ex.tokens = d["sequences"][i].get<std::vector<int32_t>>();
    ex.prompt_len = d["prompt_lens"][i].get<int64_t>();
    train.push_back(ex);
  }
  const auto root = fs::make_temp_dir(std::filesystem::temp_directory_path(), "mtk-sft-parity-");
  SftConfig c;
  c.output_dir = root.string();
  c.batch_size = d["per_step"].get<int>();
  c.grad_accum = 1;
  c.max_steps = d["steps"].get<int>();
  c.lr = d["lr"].get<double>();
  c.weight_decay = 0.01;
  c.warmup_ratio = 0.1;
  c.max_grad_norm = 1.0;
  c.shuffle = false;
  c.init_adapter = (fix / "adapter_init").string();
  const SftResult r = run_sft_examples(c, *model, train, {}, false, "tiny-llama");
  REQUIRE(r.history.size() == 10);
  double worst = 0;
  for (size_t i = 0; i < 10; ++i) {
    const double want = d["losses"][i].get<double>();
    INFO("step " << i + 1 << ": ours " << r.history[i].loss << ", peft " << want);
    CHECK(std::abs(r.history[i].loss - want) < 1e-4);
    CHECK(r.history[i].lr == Approx(d["lrs"][i].get<double>()).epsilon(1e-9));
    CHECK(r.history[i].grad_norm == Approx(d["grad_norms"][i].get<double>()).epsilon(1e-4));
    worst = std::max(worst, std::abs(r.history[i].loss - want));
  }
  // The trained adapter equals peft's after 10 steps.
  auto ours = LoraSet::load_peft((root / "adapter").string(), *model);
  auto theirs = LoraSet::load_peft((fix / "adapter_final").string(), *model);
  const auto a = lora_parameters(*ours), b = lora_parameters(*theirs);
  REQUIRE(a.size() == b.size());
  double wdiff = 0;
  for (size_t i = 0; i < a.size(); ++i) wdiff = std::max(wdiff, (a[i] - b[i]).abs().max().item<double>());
  INFO("worst loss difference " << worst << ", worst adapter weight difference " << wdiff);
  CHECK(wdiff < 1e-4);
  std::filesystem::remove_all(root);
}
