#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <thread>

#include "helpers.hpp"
#include "mtk/core/fs.hpp"
#include "mtk/core/progress.hpp"
#include "mtk/render/cache.hpp"
#include "mtk/render/pool.hpp"

using namespace mtk::render;
namespace stdfs = std::filesystem;

namespace {
std::shared_ptr<RenderCache> fresh_cache() {
  return std::make_shared<RenderCache>(mtk::fs::make_temp_dir(test::scratch_root(), "cache-"));
}
double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}
}  // namespace

TEST_CASE("cache: a second render of the same job is a hit with the same result", "[integration][render][cache]") {
  auto cache = fresh_cache();
  Renderer r(test::test_options(), cache);
  auto first = r.render({test::kMovieScene, "", "a"});
  REQUIRE(first.success);
  CHECK(!first.cached);
  CHECK(first.output.string().rfind(cache->dir().string(), 0) == 0);
  CHECK(stdfs::exists(first.output));

  auto t0 = std::chrono::steady_clock::now();
  auto second = r.render({test::kMovieScene, "", "b"});
  const double hit_s = seconds_since(t0);
  CHECK(second.cached);
  CHECK(second.id == "b");
  CHECK(second.success == first.success);
  CHECK(second.output == first.output);
  CHECK(second.scene == first.scene);
  CHECK(second.stderr_text == first.stderr_text);
  CHECK(hit_s < 0.5);
  WARN("cache hit latency: " << hit_s * 1e3 << " ms");

  // Another scene name or other code is another entry.
  auto other = r.render({std::string(test::kMovieScene) + "\n# changed\n", "", "c"});
  CHECK(!other.cached);

  // Deterministic failures are cached; limits are not.
  auto bad = std::string("from manim import *\nclass A(Scene):\n    def construct(self):\n        undefined_name\n");
  CHECK(r.render({bad, "", "n1"}).failure == FailureClass::name);
  auto bad2 = r.render({bad, "", "n2"});
  CHECK(bad2.failure == FailureClass::name);
  CHECK(bad2.cached);
  CHECK(bad2.output.empty());

  auto st = cache->stats();
  CHECK(st.entries == 3);
  CHECK(st.successes == 2);
  CHECK(st.failures == 1);
  CHECK(st.bytes > 1000);
  cache->clear();
  CHECK(cache->stats().entries == 0);
  CHECK(!r.render({test::kMovieScene, "", "d"}).cached);

  RenderResult timeout;
  timeout.failure = FailureClass::timeout;
  CHECK(!RenderCache::cacheable(timeout));
  auto key = RenderCache::key("x", "A", "0.19.0", "l", kRenderFormatVersion);
  CHECK(cache->put(key, timeout).failure == FailureClass::timeout);
  CHECK(!cache->get(key));
  CHECK(key != RenderCache::key("x", "A", "0.19.0", "m", kRenderFormatVersion));
  CHECK(key != RenderCache::key("x", "A", "0.18.0", "l", kRenderFormatVersion));
  CHECK(key != RenderCache::key("xA", "", "0.19.0", "l", kRenderFormatVersion));
}

TEST_CASE("cache: concurrent renders of one job leave one valid entry", "[integration][render][cache]") {
  auto cache = fresh_cache();
  auto renderer = std::make_shared<Renderer>(test::test_options(), cache);
  std::vector<RenderResult> res(3);
  std::vector<std::thread> ts;
  for (int i = 0; i < 3; ++i) ts.emplace_back([&, i] { res[i] = renderer->render({test::kStillScene, "", "t"}); });
  for (auto& t : ts) t.join();
  for (const auto& r : res) {
    CHECK(r.success);
    CHECK(stdfs::exists(r.output));
    CHECK(r.output == res[0].output);
  }
  CHECK(cache->stats().entries == 1);
  // No temporary entries left behind.
  int tmp = 0;
  for (const auto& e : stdfs::recursive_directory_iterator(cache->dir()))
    if (e.path().filename().string().rfind(".tmp-", 0) == 0) ++tmp;
  CHECK(tmp == 0);
  CHECK(renderer->render({test::kStillScene, "", "t"}).cached);
  CHECK(test::no_sandbox_processes_left());
}

TEST_CASE("pool: results in input order, jobs run concurrently", "[integration][render][pool]") {
  RenderPool pool(test::test_options(), nullptr, 2);
  CHECK(pool.workers() == 2);
  // Each job sleeps 3 s inside the sandbox: run one at a time, the batch would take over 2 x 3 s.
  std::vector<RenderJob> jobs;
  for (int i = 0; i < 2; ++i)
    jobs.push_back({"from manim import *\nimport time\nclass S" + std::to_string(i) +
                        "(Scene):\n    def construct(self):\n        time.sleep(3)\n        self.add(Dot())\n",
                    "", "job" + std::to_string(i)});
  jobs.push_back({"x = 1\n", "", "noscene"});
  mtk::Progress progress("render", jobs.size(), 1000);
  auto t0 = std::chrono::steady_clock::now();
  auto res = pool.render_all(jobs, &progress);
  const double wall = seconds_since(t0);
  REQUIRE(res.size() == 3);
  CHECK(res[0].id == "job0");
  CHECK(res[0].scene == "S0");
  CHECK(res[1].id == "job1");
  CHECK(res[1].scene == "S1");
  CHECK(res[2].failure == FailureClass::no_scene);
  CHECK(res[0].success);
  CHECK(res[1].success);
  CHECK(progress.done() == 3);
  const double serial = res[0].duration_s + res[1].duration_s;
  WARN("pool wall " << wall << " s vs " << serial << " s of renders");
  CHECK(wall < 0.8 * serial);

  auto fut = pool.submit({test::kStillScene, "", "future"});
  auto one = fut.get();
  CHECK(one.success);
  CHECK(one.id == "future");
  CHECK(test::no_sandbox_processes_left());
}

TEST_CASE("LaTeX cache: shared across jobs, harvested only from verified files", "[integration][render][latex]") {
  auto opts = test::test_options();
  opts.tex_cache = mtk::fs::make_temp_dir(test::scratch_root(), "tex-");
  stdfs::permissions(opts.tex_cache, stdfs::perms::owner_all | stdfs::perms::group_read | stdfs::perms::group_exec |
                                         stdfs::perms::others_read | stdfs::perms::others_exec);
  Renderer r(opts);
  const std::string code =
      "from manim import *\nclass T(Scene):\n    def construct(self):\n"
      "        self.add(MathTex(r'\\int_0^1 x^2\\,dx = \\frac{1}{3}'), Tex('Hello $x$'))\n";
  auto cold = r.render({code, "", "cold"});
  REQUIRE(cold.success);
  int svgs = 0;
  for (const auto& e : stdfs::directory_iterator(opts.tex_cache)) {
    CHECK(!stdfs::is_symlink(e.symlink_status()));
    svgs += e.path().extension() == ".svg";
  }
  CHECK(svgs == 2);
  auto warm = r.render({code, "", "warm"});
  REQUIRE(warm.success);
  WARN("LaTeX cold " << cold.duration_s << " s, warm " << warm.duration_s << " s");
  CHECK(warm.duration_s < cold.duration_s);

  // A failed LaTeX string is never added.
  auto bad = r.render({"from manim import *\nclass T(Scene):\n    def construct(self):\n"
                       "        self.add(MathTex(r'\\nosuchmacro'))\n",
                       "", "bad"});
  CHECK(bad.failure == FailureClass::latex);
  int after = 0;
  for (const auto& e : stdfs::directory_iterator(opts.tex_cache)) after += e.path().extension() == ".svg";
  CHECK(after == 2);

  // Code that writes a forged <hash>.svg (with a .tex that does not hash to the name) is ignored.
  auto forged = r.render({"from manim import *\nimport os\nclass T(Scene):\n    def construct(self):\n"
                          "        os.makedirs('media/Tex', exist_ok=True)\n"
                          "        open('media/Tex/0123456789abcdef.tex', 'w').write('x')\n"
                          "        open('media/Tex/0123456789abcdef.svg', 'w').write('<svg/>')\n"
                          "        self.add(Dot())\n",
                          "", "forged"});
  CHECK(forged.success);
  CHECK(!stdfs::exists(opts.tex_cache / "0123456789abcdef.svg"));
}
