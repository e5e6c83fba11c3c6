#pragma once
// Shared by the render tests: options with short limits and throw-away directories, and a check
// that no sandboxed process outlives its job.
#include <dirent.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <iterator>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "mtk/core/fs.hpp"
#include "mtk/render/render.hpp"

namespace mtk::render::test {

// Directories the sandbox user can reach (under /var/tmp), removed at exit.
inline const std::filesystem::path& scratch_root() {
  static struct Scratch {
    std::filesystem::path dir;
    Scratch() {
      dir = mtk::fs::make_temp_dir("/var/tmp", "mtk-render-test-");
      std::filesystem::permissions(dir, std::filesystem::perms::owner_all | std::filesystem::perms::group_exec |
                                            std::filesystem::perms::others_exec);
    }
    ~Scratch() {
      std::error_code ec;
      std::filesystem::remove_all(dir, ec);
    }
  } s;
  return s.dir;
}

// The tests' sandbox runs under a uid of its own (when root): one per test process, derived from
// our pid, so that "nothing left running" is not confused by other renders on the machine (the
// default uid is 65534) nor by another render test that ctest runs beside this one, and so that a
// process bomb contained by RLIMIT_NPROC in one test cannot use up the other's process count.
inline int test_uid() {
  static const int uid = 1000000 + static_cast<int>(::getpid());
  return uid;
}

// Set as MTK_JOB_TAG in this test process's jobs: how their processes are told apart from other
// renders when they run under our own uid (not root).
inline const std::string& job_tag() {
  static const std::string tag = "mtk-render-test-" + std::to_string(::getpid());
  return tag;
}

inline RenderOptions test_options(double timeout_s = 20) {
  RenderOptions o;
  o.sandbox_uid = test_uid();
  o.sandbox_gid = test_uid();
  o.job_tag = job_tag();
  o.timeout_s = timeout_s;
  o.job_root = scratch_root() / "jobs";
  o.tex_cache = scratch_root() / "tex";
  o.output_dir = scratch_root() / "outputs";
  return o;
}

// Does /proc/<pid>/environ hold MTK_JOB_TAG=<tag>? (Readable for processes of our own uid.)
inline bool has_job_tag(const std::string& proc_dir, const std::string& tag) {
  std::ifstream env(proc_dir + "/environ");
  std::string all((std::istreambuf_iterator<char>(env)), std::istreambuf_iterator<char>());
  const std::string needle = "MTK_JOB_TAG=" + tag;
  for (size_t pos = 0; (pos = all.find(needle, pos)) != std::string::npos; pos += needle.size()) {
    const bool starts = pos == 0 || all[pos - 1] == '\0';
    const size_t end = pos + needle.size();
    if (starts && (end == all.size() || all[end] == '\0')) return true;
  }
  return false;
}

// Live (non-zombie) processes running as `uid` (and, when `tag` is given, carrying it as their
// MTK_JOB_TAG), one "pid state cmdline" line each.
inline std::string processes_of(int uid, const std::string& tag = {}) {
  std::string out;
  DIR* d = ::opendir("/proc");
  if (!d) return out;
  while (auto* e = ::readdir(d)) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    const std::string dir = std::string("/proc/") + e->d_name;
    std::ifstream st(dir + "/status");
    std::string line, state;
    int u = -1;
    while (std::getline(st, line)) {
      if (line.rfind("State:", 0) == 0) state = line.substr(6);
      if (line.rfind("Uid:", 0) == 0) u = std::stoi(line.substr(4));
    }
    if (u != uid || state.find("zombie") != std::string::npos) continue;
    if (!tag.empty() && !has_job_tag(dir, tag)) continue;
    std::ifstream cl(dir + "/cmdline");
    std::string cmd((std::istreambuf_iterator<char>(cl)), std::istreambuf_iterator<char>());
    for (auto& c : cmd)
      if (c == '\0') c = ' ';
    out += std::string(e->d_name) + state + " " + cmd.substr(0, 200) + "\n";
  }
  ::closedir(d);
  return out;
}

// The processes of this test process's sandboxes: as root, those of the tests' sandbox uid; as
// another user, those of our uid that carry our job tag.
inline std::string sandbox_processes() {
  if (::geteuid() == 0) return processes_of(test_uid());
  return processes_of(static_cast<int>(::geteuid()), job_tag());
}

// True when no process of this test process's sandboxes is left within `wait_s`.
inline bool no_sandbox_processes_left(double wait_s = 5) {
  const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(wait_s);
  std::string left;
  while (!(left = sandbox_processes()).empty()) {
    if (std::chrono::steady_clock::now() > end) {
      std::fprintf(stderr, "sandbox processes left running:\n%s", left.c_str());
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return true;
}

inline const char* kStillScene = R"(from manim import *

class Still(Scene):
    def construct(self):
        self.add(Circle())
)";

inline const char* kMovieScene = R"(from manim import *

class Movie(Scene):
    def construct(self):
        self.play(Create(Square()), run_time=0.5)
)";

}  // namespace mtk::render::test
