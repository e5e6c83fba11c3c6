// manim-train: fine-tune small models to write Manim code. `sft`: supervised fine-tuning of LoRA
// adapters on a frozen (quantised) base (mtk/train/sft.hpp); `grpo`: GRPO of those adapters with a
// reward from rendered videos and code (mtk/train/grpo.hpp).
#include <CLI/CLI.hpp>

#include <cstdio>

#include "mtk/build_info.hpp"
#include "mtk/core/app.hpp"
#include "mtk/core/config.hpp"
#include "mtk/core/log.hpp"
#include "mtk/core/progress.hpp"
#include "mtk/train/grpo.hpp"
#include "mtk/train/sft.hpp"

int main(int argc, char** argv) {
  return mtk::run_app("manim-train", [&] {
    CLI::App app{"manim-train: fine-tune small models to write Manim code"};
    app.set_version_flag("--version", std::string("manim-train ") + mtk::build::kVersion);
    app.require_subcommand(1);
    std::string log_level = "info";
    app.add_option("--log-level", log_level, "trace, debug, info, warn, error or off")->capture_default_str();
    std::string config_path;
    std::vector<std::string> sets;
    bool resume = false;
    auto* sft = app.add_subcommand("sft", "Supervised fine-tuning of LoRA adapters (the paper's first stage)");
    sft->add_option("--config", config_path, "JSON config (configs/sft/smollm2-135m.json, configs/paper/sft.json)")
        ->required();
    sft->add_option("--set", sets, "override a config key: --set lr=1e-4 --set lora.r=16 (repeatable)");
    sft->add_flag("--resume", resume, "continue from the newest checkpoint in output_dir");
    auto* grpo = app.add_subcommand("grpo", "GRPO of LoRA adapters with the render + code reward (the paper's second stage)");
    grpo->add_option("--config", config_path, "JSON config (configs/grpo/smollm2-135m-cpu.json)")->required();
    grpo->add_option("--set", sets, "override a config key: --set beta=0 --set reward.visual_term=S_SSIM (repeatable)");
    grpo->add_flag("--resume", resume, "continue from the newest checkpoint in output_dir");
    CLI11_PARSE(app, argc, argv);
    mtk::init_logging(log_level);

    if (sft->parsed()) {
      auto j = mtk::config::load_file(config_path);
      mtk::config::apply_overrides(j, sets);
      const mtk::train::SftConfig cfg = mtk::train::sft_config_from_json(j);
      const mtk::train::SftResult r = mtk::train::run_sft(cfg, resume);
      std::printf("sft: %d/%d steps in %s (%.0f tokens/s); best validation loss %.4f at step %d; adapter in "
                  "%s/adapter (peft) and %s/adapter.gguf (llama.cpp)\n",
                  r.steps, r.total_steps, mtk::format_duration(r.train_wall_s).c_str(), r.tokens_per_s,
                  r.best_val_loss, r.best_step, cfg.output_dir.c_str(), cfg.output_dir.c_str());
    }
    if (grpo->parsed()) {
      auto j = mtk::config::load_file(config_path);
      mtk::config::apply_overrides(j, sets);
      const mtk::train::GrpoConfig cfg = mtk::train::grpo_config_from_json(j);
      const mtk::train::GrpoResult r = mtk::train::run_grpo(cfg, resume);
      std::printf("grpo: %d/%d steps in %s; adapter in %s/adapter (peft) and %s/adapter.gguf (llama.cpp); metrics in "
                  "%s/metrics.jsonl\n",
                  r.steps, r.total_steps, mtk::format_duration(r.wall_s).c_str(), cfg.output_dir.c_str(),
                  cfg.output_dir.c_str(), cfg.output_dir.c_str());
    }
    return 0;
  });
}
