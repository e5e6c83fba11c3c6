#pragma once
// Renders many jobs concurrently: N workers share one Renderer (so one LaTeX cache and one
// render cache); each job keeps the Renderer's per-job limits.
#include <future>
#include <memory>
#include <vector>

#include "mtk/render/render.hpp"

namespace mtk {
class Progress;
class ThreadPool;
}  // namespace mtk

namespace mtk::render {

class RenderPool {
 public:
  // workers = 0: hardware threads.
  explicit RenderPool(RenderOptions opts = {}, std::shared_ptr<RenderCache> cache = nullptr, unsigned workers = 0);
  explicit RenderPool(std::shared_ptr<Renderer> renderer, unsigned workers = 0);
  ~RenderPool();  // finishes queued jobs
  RenderPool(const RenderPool&) = delete;
  RenderPool& operator=(const RenderPool&) = delete;

  std::future<RenderResult> submit(RenderJob job);
  // Results in input order; ticks `progress` as jobs finish.
  std::vector<RenderResult> render_all(const std::vector<RenderJob>& jobs, Progress* progress = nullptr);

  unsigned workers() const;
  Renderer& renderer() { return *renderer_; }

 private:
  std::shared_ptr<Renderer> renderer_;
  std::unique_ptr<ThreadPool> pool_;
};

}  // namespace mtk::render
