// manim-agent render FILE: one sandboxed render, its failure class and the feedback a model gets.
#include <cstdio>
#include <filesystem>
#include <memory>

#include "mtk/core/fs.hpp"
#include "mtk/render/cache.hpp"
#include "mtk/render/render.hpp"
#include "subcommands.hpp"

namespace mtk::apps::agent {

Subcommand add_render(CLI::App& app) {
  struct State {
    std::string file, scene, out;
    render::RenderOptions ro;
    double disk_quota_mib = 2048;
    bool no_cache = false;
  };
  auto st = std::make_shared<State>();
  auto* cmd = app.add_subcommand("render", "Render a Manim file in the sandbox; print the outcome, its failure "
                                           "class and the feedback a model would get");
  cmd->add_option("file", st->file, "Python file with a Manim scene")->required()->check(CLI::ExistingFile);
  cmd->add_option("--scene", st->scene, "scene class (default: detected from the code)");
  cmd->add_option("--timeout", st->ro.timeout_s, "wall-clock limit, seconds")->capture_default_str();
  cmd->add_option("--disk-quota", st->disk_quota_mib, "disk quota of the render job, MiB (failure class disk beyond it)")
      ->capture_default_str()
      ->check(CLI::Range(64.0, 1e7));
  cmd->add_option("--copy-to", st->out, "copy the video (or still) here");
  cmd->add_flag("--no-cache", st->no_cache, "do not use the render cache");
  cmd->add_flag("--unsafe-no-sandbox", st->ro.allow_unsandboxed,
                "run without bubblewrap when it is unavailable (untrusted code: avoid)");
  return {cmd, [st] {
            st->ro.disk_bytes = static_cast<uint64_t>(st->disk_quota_mib * (1 << 20));
            render::Renderer r(st->ro, st->no_cache ? nullptr : std::make_shared<render::RenderCache>());
            r.check_environment();
            const std::string code = fs::read_file(st->file);
            auto res = r.render(render::RenderJob{code, st->scene, st->file});
            std::printf("success: %s\nclass: %s\nscene: %s\nduration: %.2f s%s\n", res.success ? "yes" : "no",
                        std::string(render::to_string(res.failure)).c_str(), res.scene.c_str(), res.duration_s,
                        res.cached ? " (cached)" : "");
            if (res.success) {
              std::printf("output: %s%s\n", res.output.c_str(), res.still ? " (still image)" : "");
              if (!st->out.empty()) {
                std::filesystem::copy_file(res.output, st->out, std::filesystem::copy_options::overwrite_existing);
                std::printf("copied to %s\n", st->out.c_str());
              }
              return 0;
            }
            std::printf("\n--- feedback (last %d lines, the paper's) ---\n%s\n", st->ro.feedback_lines,
                        render::feedback_tail(res, st->ro.feedback_lines).c_str());
            std::printf("\n--- feedback (cleaned) ---\n%s\n", render::feedback_clean(res, code).c_str());
            return 3;
          }};
}

}  // namespace mtk::apps::agent
