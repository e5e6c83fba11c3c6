// manim-train sft: supervised fine-tuning of LoRA adapters (the paper's first stage).
#include <cstdio>
#include <memory>

#include "mtk/core/config.hpp"
#include "mtk/core/progress.hpp"
#include "mtk/train/sft.hpp"
#include "subcommands.hpp"

namespace mtk::apps::train {

void add_config_args(CLI::App* cmd, ConfigArgs& a, const std::string& example_config, const std::string& example_set) {
  cmd->add_option("--config", a.config_path, "JSON config (" + example_config + ")")->required();
  cmd->add_option("--set", a.sets, "override a config key: " + example_set + " (repeatable)");
  cmd->add_flag("--resume", a.resume, "continue from the newest checkpoint in output_dir");
}

Subcommand add_sft(CLI::App& app) {
  auto a = std::make_shared<ConfigArgs>();
  auto* cmd = app.add_subcommand("sft", "Supervised fine-tuning of LoRA adapters (the paper's first stage)");
  add_config_args(cmd, *a, "configs/sft/smollm2-135m.json, configs/paper/sft.json", "--set lr=1e-4 --set lora.r=16");
  return {cmd, [a] {
            auto j = config::load_file(a->config_path);
            config::apply_overrides(j, a->sets);
            const mtk::train::SftConfig cfg = mtk::train::sft_config_from_json(j);
            const mtk::train::SftResult r = mtk::train::run_sft(cfg, a->resume);
            std::printf("sft: %d/%d steps in %s (%.0f tokens/s); best validation loss %.4f at step %d; adapter in "
                        "%s/adapter (peft) and %s/adapter.gguf (llama.cpp)\n",
                        r.steps, r.total_steps, format_duration(r.train_wall_s).c_str(), r.tokens_per_s, r.best_val_loss,
                        r.best_step, cfg.output_dir.c_str(), cfg.output_dir.c_str());
            return 0;
          }};
}

}  // namespace mtk::apps::train
