// manim-bench cache stats|clear: the render cache.
#include <cstdio>

#include "mtk/render/cache.hpp"
#include "subcommands.hpp"

namespace mtk::apps::bench {

Subcommand add_cache(CLI::App& app) {
  auto* cache = app.add_subcommand("cache", "Inspect or clear the render cache");
  cache->require_subcommand(1);
  auto* stats = cache->add_subcommand("stats", "entries, size and location of the render cache");
  auto* clear = cache->add_subcommand("clear", "delete every cached render");
  return {cache, [stats, clear] {
            render::RenderCache rc;
            if (*stats) {
              auto st = rc.stats();
              std::printf("render cache: %s\nentries: %llu (%llu successes, %llu failures)\nsize: %.1f MiB\n",
                          rc.dir().c_str(), (unsigned long long)st.entries, (unsigned long long)st.successes,
                          (unsigned long long)st.failures, st.bytes / 1048576.0);
            } else if (*clear) {
              auto n = rc.stats().entries;
              rc.clear();
              std::printf("removed %llu cached renders from %s\n", (unsigned long long)n, rc.dir().c_str());
            }
            return 0;
          }};
}

}  // namespace mtk::apps::bench
