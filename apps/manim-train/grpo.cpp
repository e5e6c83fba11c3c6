// manim-train grpo: GRPO of LoRA adapters with the render + code reward (the paper's second stage).
#include <cstdio>
#include <memory>

#include "mtk/core/config.hpp"
#include "mtk/core/progress.hpp"
#include "mtk/train/grpo.hpp"
#include "subcommands.hpp"

namespace mtk::apps::train {

Subcommand add_grpo(CLI::App& app) {
  auto a = std::make_shared<ConfigArgs>();
  auto* cmd = app.add_subcommand("grpo", "GRPO of LoRA adapters with the render + code reward (the paper's second stage)");
  add_config_args(cmd, *a, "configs/grpo/smollm2-135m-cpu.json", "--set beta=0 --set reward.visual_term=S_SSIM");
  return {cmd, [a] {
            auto j = config::load_file(a->config_path);
            config::apply_overrides(j, a->sets);
            const mtk::train::GrpoConfig cfg = mtk::train::grpo_config_from_json(j);
            const mtk::train::GrpoResult r = mtk::train::run_grpo(cfg, a->resume);
            std::printf("grpo: %d/%d steps in %s; adapter in %s/adapter (peft) and %s/adapter.gguf (llama.cpp); metrics "
                        "in %s/metrics.jsonl\n",
                        r.steps, r.total_steps, format_duration(r.wall_s).c_str(), cfg.output_dir.c_str(),
                        cfg.output_dir.c_str(), cfg.output_dir.c_str());
            return 0;
          }};
}

}  // namespace mtk::apps::train
