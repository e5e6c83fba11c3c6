// run_meta.json's generic part: the git revision of a real repository (made with the git CLI) and
// the sha256 cache keyed by (path, size, mtime).
#include <catch2/catch.hpp>

#include <chrono>
#include <cstdlib>
#include <filesystem>

#include "mtk/build_info.hpp"
#include "mtk/core/error.hpp"
#include "mtk/core/fs.hpp"
#include "mtk/core/hash.hpp"
#include "mtk/core/run_meta.hpp"

namespace stdfs = std::filesystem;
using namespace mtk;

namespace {

size_t cache_entries(const stdfs::path& dir) {
  size_t n = 0;
  for (const auto& e : stdfs::directory_iterator(dir)) n += e.is_regular_file() ? 1 : 0;
  return n;
}

std::string shell_out(const std::string& cmd) {
  std::string out;
  FILE* p = ::popen(cmd.c_str(), "r");
  REQUIRE(p);
  char buf[256];
  while (size_t n = std::fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  REQUIRE(::pclose(p) == 0);
  while (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

}  // namespace

TEST_CASE("run_meta: the sha256 cache is keyed by path, size and mtime", "[unit]") {
  const auto root = fs::make_temp_dir(stdfs::temp_directory_path(), "mtk-sha-cache-");
  const stdfs::path cache = root / "cache", file = root / "model.bin";
  fs::atomic_write(file, "first content");
  const auto t0 = stdfs::last_write_time(file);
  CHECK(run_meta::file_sha256_cached(file, cache) == sha256_hex("first content"));
  CHECK(cache_entries(cache) == 1);
  CHECK(run_meta::file_sha256_cached(file, cache) == sha256_hex("first content"));
  CHECK(cache_entries(cache) == 1);

  // Same size, mtime put back: the file is taken as unchanged and not read again (the cached,
  // now stale, digest comes back). This is what spares a 100 MB model a re-hash every run.
  fs::atomic_write(file, "other content");
  stdfs::last_write_time(file, t0);
  CHECK(run_meta::file_sha256_cached(file, cache) == sha256_hex("first content"));

  // A new mtime: hashed again.
  stdfs::last_write_time(file, t0 + std::chrono::seconds(5));
  CHECK(run_meta::file_sha256_cached(file, cache) == sha256_hex("other content"));
  CHECK(cache_entries(cache) == 2);

  // A new size under the same mtime: hashed again.
  fs::atomic_write(file, "a longer other content");
  stdfs::last_write_time(file, t0 + std::chrono::seconds(5));
  CHECK(run_meta::file_sha256_cached(file, cache) == sha256_hex("a longer other content"));
  CHECK(cache_entries(cache) == 3);

  // An unwritable cache costs only the re-hash.
  CHECK(run_meta::file_sha256_cached(file, "/proc/mtk-no-such-dir") == sha256_hex("a longer other content"));

  // model_json: size and digest of a file, per-file entries for a directory.
  const auto m = run_meta::model_json("model", "x", file);
  CHECK(m["sha256"] == sha256_hex("a longer other content"));
  CHECK(m["size"] == 22);
  fs::atomic_write(root / "dir" / "a.safetensors", "A");
  const auto d = run_meta::model_json("model", "dir", root / "dir");
  CHECK(d["files"]["a.safetensors"]["sha256"] == sha256_hex("A"));
  stdfs::remove_all(root);
}

TEST_CASE("run_meta: git revision and dirty flag of a real repository, unknown outside one", "[unit]") {
  const auto root = fs::make_temp_dir(stdfs::temp_directory_path(), "mtk-git-");
  const auto none = run_meta::git_revision(root);
  CHECK(none.revision == "unknown");
  CHECK_FALSE(none.dirty.has_value());

  const std::string git = "git -C '" + root.string() + "' -c user.name=t -c user.email=t@example.org ";
  shell_out(git + "init -q");
  fs::atomic_write(root / "a.txt", "one\n");
  shell_out(git + "add a.txt && " + git + "commit -q -m one");
  const std::string head = shell_out(git + "rev-parse HEAD");
  auto g = run_meta::git_revision(root);
  CHECK(g.revision == head);
  REQUIRE(g.dirty.has_value());
  CHECK_FALSE(*g.dirty);
  fs::atomic_write(root / "untracked.txt", "x\n");  // untracked files do not make the tree dirty
  CHECK_FALSE(*run_meta::git_revision(root).dirty);
  fs::atomic_write(root / "a.txt", "two\n");
  g = run_meta::git_revision(root);
  CHECK(g.revision == head);
  CHECK(*g.dirty);

  // collect(): the build's source tree, the versions given, and a Manim that cannot be found
  // recorded instead of failing.
  run_meta::Inputs in;
  in.kind = "test";
  in.config = {{"k", 1}};
  in.libtorch_version = "9.9";
  in.manim_version = []() -> std::string { throw Error("no Manim here", "install it"); };
  const auto j = run_meta::collect(in);
  CHECK(j["git"]["source_dir"] == build::kSourceDir);
  CHECK(j["toolkit_version"] == build::kVersion);
  CHECK(j["libtorch_version"] == "9.9");
  CHECK(j["manim_version"].get<std::string>().rfind("unavailable: no Manim here", 0) == 0);
  CHECK(j["config"]["k"] == 1);

  // write(): a resumed run keeps the folder's earlier run_meta.json under "previous", a fresh one
  // does not.
  run_meta::write(root, in);
  in.config = {{"k", 2}};
  in.resumed = true;
  run_meta::write(root, in);
  in.config = {{"k", 3}};
  run_meta::write(root, in);
  auto w = nlohmann::json::parse(fs::read_file(root / "run_meta.json"));
  CHECK(w["config"]["k"] == 3);
  REQUIRE(w["previous"].size() == 2);
  CHECK(w["previous"][0]["config"]["k"] == 1);
  CHECK(w["previous"][1]["config"]["k"] == 2);
  CHECK_FALSE(w["previous"][1].contains("previous"));
  in.resumed = false;
  run_meta::write(root, in);
  CHECK_FALSE(nlohmann::json::parse(fs::read_file(root / "run_meta.json")).contains("previous"));
  stdfs::remove_all(root);
}
