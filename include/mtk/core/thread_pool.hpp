#pragma once
// A fixed-size thread pool with a FIFO queue, and parallel_for over an index range.
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <queue>
#include <thread>
#include <vector>

namespace mtk {

// Number of hardware threads (at least 1).
unsigned hardware_threads();

class ThreadPool {
 public:
  explicit ThreadPool(unsigned threads = 0);  // 0 = hardware_threads()
  ~ThreadPool();                               // finishes queued work, then joins
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  template <class F>
  auto submit(F&& f) -> std::future<decltype(f())> {
    using R = decltype(f());
    auto task = std::make_shared<std::packaged_task<R()>>(std::forward<F>(f));
    auto fut = task->get_future();
    {
      std::lock_guard<std::mutex> lk(mu_);
      queue_.emplace([task] { (*task)(); });
    }
    cv_.notify_one();
    return fut;
  }
  unsigned size() const { return static_cast<unsigned>(workers_.size()); }
  size_t queued() const;

 private:
  void loop();
  std::vector<std::thread> workers_;
  std::queue<std::function<void()>> queue_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
};

// Runs fn(i) for i in [0, n) on up to `threads` threads (0 = hardware), in contiguous chunks.
// Exceptions from fn are rethrown in the caller (the first one).
void parallel_for(size_t n, const std::function<void(size_t)>& fn, unsigned threads = 0);

}  // namespace mtk
