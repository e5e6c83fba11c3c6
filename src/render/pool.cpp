#include "mtk/render/pool.hpp"

#include "mtk/core/progress.hpp"
#include "mtk/core/thread_pool.hpp"

namespace mtk::render {

RenderPool::RenderPool(RenderOptions opts, std::shared_ptr<RenderCache> cache, unsigned workers)
    : RenderPool(std::make_shared<Renderer>(std::move(opts), std::move(cache)), workers) {}

RenderPool::RenderPool(std::shared_ptr<Renderer> renderer, unsigned workers)
    : renderer_(std::move(renderer)), pool_(std::make_unique<ThreadPool>(workers)) {}

RenderPool::~RenderPool() = default;

unsigned RenderPool::workers() const { return pool_->size(); }

std::future<RenderResult> RenderPool::submit(RenderJob job) {
  auto r = renderer_;
  return pool_->submit([r, job = std::move(job)] { return r->render(job); });
}

std::vector<RenderResult> RenderPool::render_all(const std::vector<RenderJob>& jobs, Progress* progress) {
  std::vector<std::future<RenderResult>> futs;
  futs.reserve(jobs.size());
  auto r = renderer_;
  for (const auto& job : jobs)
    futs.push_back(pool_->submit([r, job, progress] {
      RenderResult res = r->render(job);
      if (progress) progress->tick(1, res.success ? std::string() : std::string(to_string(res.failure)));
      return res;
    }));
  std::vector<RenderResult> out;
  out.reserve(jobs.size());
  for (auto& f : futs) out.push_back(f.get());
  return out;
}

}  // namespace mtk::render
