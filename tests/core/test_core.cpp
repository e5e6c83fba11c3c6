#include <catch2/catch.hpp>

#include <atomic>
#include <filesystem>
#include <thread>

#include "mtk/core/config.hpp"
#include "mtk/core/error.hpp"
#include "mtk/core/fs.hpp"
#include "mtk/core/hash.hpp"
#include "mtk/core/thread_pool.hpp"

namespace stdfs = std::filesystem;
using namespace mtk;

TEST_CASE("config: comments allowed, dotted overrides typed as JSON", "[unit]") {
  auto cfg = config::parse(R"({
    // a comment
    "render": {"timeout_s": 300, /* inline */ "quality": "l"}
  })");
  config::apply_overrides(cfg, {"render.timeout_s=60", "render.quality=m", "grpo.beta=0.01", "grpo.loss=\"dr_grpo\"",
                                "list=[1,2]"});
  CHECK(cfg["render"]["timeout_s"] == 60);
  CHECK(cfg["render"]["quality"] == "m");
  CHECK(cfg["grpo"]["beta"].get<double>() == Approx(0.01));
  CHECK(cfg["grpo"]["loss"] == "dr_grpo");
  CHECK(cfg["list"].size() == 2);
  CHECK_THROWS_AS(config::apply_override(cfg, "novalue"), Error);
  CHECK_THROWS_AS(config::apply_override(cfg, "render.quality.x=1"), Error);
  CHECK_THROWS_WITH(config::parse("{\"a\": }", "bad.json"), Catch::Contains("bad.json"));
}

TEST_CASE("sha256 matches the standard test vectors; fields are length-prefixed", "[unit]") {
  CHECK(sha256_hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(Sha256().field("ab").field("c").hex() != Sha256().field("a").field("bc").hex());
}

TEST_CASE("atomic_write replaces whole files; concurrent writers leave one complete version", "[unit]") {
  auto dir = fs::make_temp_dir(stdfs::temp_directory_path(), "mtk-test-");
  auto p = dir / "sub" / "f.txt";
  fs::atomic_write(p, "one");
  CHECK(fs::read_file(p) == "one");
  std::vector<std::thread> ts;
  for (int i = 0; i < 8; ++i)
    ts.emplace_back([&, i] { fs::atomic_write(p, std::string(100000, char('a' + i))); });
  for (auto& t : ts) t.join();
  auto s = fs::read_file(p);
  REQUIRE(s.size() == 100000);
  CHECK(s.find_first_not_of(s[0]) == std::string::npos);
  size_t files = std::distance(stdfs::directory_iterator(dir / "sub"), stdfs::directory_iterator());
  CHECK(files == 1);  // no temp files left behind
  fs::append_line(dir / "log.jsonl", "{\"a\":1}");
  fs::append_line(dir / "log.jsonl", "{\"a\":2}");
  CHECK(fs::read_file(dir / "log.jsonl") == "{\"a\":1}\n{\"a\":2}\n");
  CHECK_THROWS_AS(fs::read_file(dir / "missing"), Error);
  stdfs::remove_all(dir);
}

TEST_CASE("thread pool and parallel_for run everything and propagate errors", "[unit]") {
  ThreadPool pool(3);
  std::vector<std::future<int>> fs_;
  for (int i = 0; i < 50; ++i) fs_.push_back(pool.submit([i] { return i * i; }));
  int sum = 0;
  for (auto& f : fs_) sum += f.get();
  CHECK(sum == 40425);
  std::atomic<int> count{0};
  parallel_for(1000, [&](size_t) { count++; }, 4);
  CHECK(count == 1000);
  CHECK_THROWS_AS(parallel_for(10, [](size_t i) { if (i == 7) throw Error("boom"); }, 2), Error);
}
