// run_meta.json (run_meta.hpp).
#include "mtk/core/run_meta.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <ctime>

#include "mtk/build_info.hpp"
#include "mtk/core/error.hpp"
#include "mtk/core/fs.hpp"
#include "mtk/core/hash.hpp"
#include "mtk/core/process.hpp"
#include "mtk/core/strings.hpp"

namespace mtk::run_meta {

namespace stdfs = std::filesystem;
using json = nlohmann::json;

namespace {

// git with an explicit, minimal environment: the caller's PATH (to find git), nothing else.
proc::Result run_git(const stdfs::path& dir, std::vector<std::string> args) {
  const char* path_env = std::getenv("PATH");
  const std::string path = path_env && *path_env ? path_env : "/usr/bin:/bin";
  const std::string git = proc::find_executable("git", path);
  proc::Result r;
  if (git.empty()) {
    r.spawn_error = "git not found";
    return r;
  }
  proc::Spec spec;
  spec.argv = {git, "--no-optional-locks", "-C", dir.string()};
  spec.argv.insert(spec.argv.end(), args.begin(), args.end());
  spec.env = {"PATH=" + path, "LANG=C", "GIT_TERMINAL_PROMPT=0"};
  if (const char* home = std::getenv("HOME")) spec.env.push_back(std::string("HOME=") + home);  // git's safe.directory
  spec.timeout_s = 30;
  return proc::run(spec);
}

std::string utc_now() {
  const std::time_t t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace

GitRevision git_revision(const stdfs::path& dir) {
  GitRevision g;
  try {
    const proc::Result head = run_git(dir, {"rev-parse", "HEAD"});
    const std::string rev(rtrim(head.out));
    if (!head.started() || head.exit_code != 0 || rev.empty() || rev.find_first_not_of("0123456789abcdef") != std::string::npos)
      return g;
    g.revision = rev;
    const proc::Result st = run_git(dir, {"status", "--porcelain", "--untracked-files=no"});
    if (st.started() && st.exit_code == 0) g.dirty = !st.out.empty();
  } catch (const std::exception& e) {  // cannot fork: the revision stays unknown
    spdlog::debug("run_meta: git failed: {}", e.what());
  }
  return g;
}

std::string file_sha256_cached(const stdfs::path& file, const stdfs::path& cache_dir) {
  const stdfs::path abs = stdfs::absolute(file).lexically_normal();
  const auto size = stdfs::file_size(abs);
  const auto mtime = stdfs::last_write_time(abs).time_since_epoch().count();
  const stdfs::path dir = cache_dir.empty() ? fs::cache_root() / "file-sha256" : cache_dir;
  const std::string key =
      Sha256().field(abs.string()).field(std::to_string(size)).field(std::to_string(mtime)).hex();
  const stdfs::path entry = dir / key;
  std::error_code ec;
  if (stdfs::is_regular_file(entry, ec)) {
    try {
      const std::string v = fs::read_file(entry);
      if (v.size() == 64 && v.find_first_not_of("0123456789abcdef") == std::string::npos) return v;
    } catch (const Error&) {
      // unreadable entry: hash again
    }
  }
  const std::string sha = sha256_file_hex(abs.string());
  try {
    fs::atomic_write(entry, sha);
  } catch (const std::exception& e) {
    spdlog::debug("run_meta: cannot cache the sha256 of {}: {}", abs.string(), e.what());
  }
  return sha;
}

json model_json(const std::string& role, const std::string& name, const stdfs::path& path) {
  json m{{"role", role}, {"name", name}, {"path", stdfs::absolute(path).lexically_normal().string()}};
  if (stdfs::is_directory(path)) {
    std::vector<stdfs::path> files;
    for (const auto& e : stdfs::directory_iterator(path))
      if (e.is_regular_file()) files.push_back(e.path());
    std::sort(files.begin(), files.end());
    json fj = json::object();
    for (const auto& f : files)
      fj[f.filename().string()] = {{"size", stdfs::file_size(f)}, {"sha256", file_sha256_cached(f)}};
    m["files"] = fj;
  } else {
    m["size"] = stdfs::file_size(path);
    m["sha256"] = file_sha256_cached(path);
  }
  return m;
}

json collect(const Inputs& in) {
  const GitRevision g = git_revision(build::kSourceDir);
  std::string manim = "not used";
  if (in.manim_version) {
    try {
      manim = in.manim_version();
    } catch (const Error& e) {
      manim = std::string("unavailable: ") + e.what();
    }
  }
  return json{{"kind", in.kind},
              {"written_at", utc_now()},
              {"git", {{"revision", g.revision}, {"dirty", g.dirty ? json(*g.dirty) : json()}, {"source_dir", build::kSourceDir}}},
              {"toolkit_version", build::kVersion},
              {"libtorch_version", in.libtorch_version.empty() ? std::string("not used") : in.libtorch_version},
              {"manim_version", manim},
              {"models", in.models},
              {"config", in.config}};
}

void write(const stdfs::path& dir, const Inputs& in) {
  const stdfs::path file = dir / "run_meta.json";
  json meta = collect(in);
  json previous = json::array();
  if (in.resumed && stdfs::exists(file)) {
    try {
      json before = json::parse(fs::read_file(file));
      if (before.contains("previous")) previous = before["previous"];
      before.erase("previous");
      previous.push_back(before);
    } catch (const std::exception& e) {  // unreadable: that history is lost, the run goes on
      spdlog::warn("run_meta: cannot read the earlier {}: {}", file.string(), e.what());
    }
  }
  if (!previous.empty()) meta["previous"] = previous;
  fs::atomic_write(file, meta.dump(2) + "\n");
}

}  // namespace mtk::run_meta
