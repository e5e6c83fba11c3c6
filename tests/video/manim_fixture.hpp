#pragma once
// Test support (header-only, no Catch2): real videos rendered from small trusted Manim scenes, cached
// under a temp directory keyed by a hash of the code, scene and arguments, so repeated test runs do
// not render again. Renders directly with the project's venv Python (mtk::fs::manim_python()):
//   python -m manim render -ql --format mp4 --disable_caching --progress_bar none -v WARNING ...
// A scene with no animation yields a PNG (the paper's one-frame "video").
// Cache root: $MTK_TEST_FIXTURES, else <tmp>/mtk-test-fixtures. Nothing here is ever committed.
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "mtk/core/error.hpp"
#include "mtk/core/fs.hpp"
#include "mtk/core/hash.hpp"

namespace mtk::testing {

namespace stdfs = std::filesystem;

inline std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'')
      out += "'\\''";
    else
      out += c;
  }
  return out + "'";
}

struct CommandResult {
  int status = -1;  // exit code, or -1 when it did not exit normally
  std::string output;
};

// Runs a shell command, capturing stdout (and stderr when merge_stderr).
inline CommandResult run_command(const std::string& cmd, bool merge_stderr = true) {
  CommandResult r;
  const std::string full = merge_stderr ? cmd + " 2>&1" : cmd;
  FILE* p = ::popen(full.c_str(), "r");
  if (!p) throw mtk::Error("cannot run: " + cmd);
  std::array<char, 65536> buf{};
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) r.output.append(buf.data(), n);
  const int st = ::pclose(p);
  r.status = (st != -1 && WIFEXITED(st)) ? WEXITSTATUS(st) : -1;
  return r;
}

// A temporary directory that is removed (with its contents) when the object goes away.
struct ScratchDir {
  stdfs::path path;
  explicit ScratchDir(const std::string& prefix)
      : path(mtk::fs::make_temp_dir(stdfs::temp_directory_path(), prefix)) {}
  ~ScratchDir() {
    std::error_code ec;
    stdfs::remove_all(path, ec);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
};

inline stdfs::path fixture_root() {
  if (const char* v = std::getenv("MTK_TEST_FIXTURES"); v && *v) return stdfs::path(v);
  return stdfs::temp_directory_path() / "mtk-test-fixtures";
}

inline stdfs::path venv_python() { return mtk::fs::manim_python(); }

inline stdfs::path python_tests_dir() { return mtk::fs::project_root() / "tests" / "python"; }

// Fails (throws) with the fix when the venv or Manim is missing.
inline void require_manim() {
  const auto py = venv_python();
  if (!stdfs::exists(py))
    throw mtk::Error("the project's Python venv is missing (" + py.string() + ")",
                     "run scripts/setup.sh --test, or set MTK_PYTHON to a Python with manim==0.19.0");
  auto r = run_command(shell_quote(py.string()) + " -c 'import manim'");
  if (r.status != 0)
    throw mtk::Error("Manim is not importable from " + py.string() + ": " + r.output,
                     "run scripts/setup.sh --test");
}

// Fails (throws) with the fix when the Python parity peers are missing.
inline void require_python_peers() {
  const auto py = venv_python();
  if (!stdfs::exists(py))
    throw mtk::Error("the project's Python venv is missing (" + py.string() + ")",
                     "run scripts/setup.sh --test (installs scripts/requirements-test.txt into .venv)");
  auto r = run_command(shell_quote(py.string()) + " -c 'import numpy, scipy, skimage, fastdtw, cv2'");
  if (r.status != 0)
    throw mtk::Error("the Python parity peers (scikit-image, fastdtw, opencv-python-headless) are not importable "
                     "from " + py.string() + ": " + r.output,
                     "run scripts/setup.sh --test (pip install -r scripts/requirements-test.txt into .venv)");
}

// Renders `scene` from `code` and returns the cached output (.mp4, or .png for a still scene).
// extra_args are passed to manim (e.g. {"-r", "640,360"}).
inline stdfs::path render_scene(const std::string& code, const std::string& scene,
                                const std::vector<std::string>& extra_args = {}) {
  mtk::Sha256 h;
  h.field("manim-fixture-v1").field(code).field(scene);
  for (const auto& a : extra_args) h.field(a);
  const std::string key = h.hex().substr(0, 24);
  const stdfs::path root = fixture_root();
  stdfs::create_directories(root);
  for (const char* ext : {".mp4", ".png"}) {
    const stdfs::path cached = root / (key + ext);
    if (stdfs::exists(cached) && stdfs::file_size(cached) > 0) return cached;
  }
  require_manim();
  const stdfs::path job = mtk::fs::make_temp_dir(root, "render-");
  const stdfs::path file = job / "scene.py";
  {
    std::ofstream out(file);
    out << code;
  }
  std::string cmd = shell_quote(venv_python().string()) +
                    " -m manim render -ql --format mp4 --disable_caching --progress_bar none -v WARNING"
                    " --media_dir " + shell_quote((job / "media").string()) + " -o out";
  for (const auto& a : extra_args) cmd += " " + shell_quote(a);
  cmd += " " + shell_quote(file.string()) + " " + shell_quote(scene);
  const auto r = run_command(cmd);
  stdfs::path produced;
  if (stdfs::exists(job / "media")) {
    for (const auto& e : stdfs::recursive_directory_iterator(job / "media")) {
      if (!e.is_regular_file()) continue;
      const auto p = e.path();
      if (p.string().find("partial_movie_files") != std::string::npos) continue;
      if (p.filename() == "out.mp4" || p.filename() == "out.png") produced = p;
    }
  }
  if (r.status != 0 || produced.empty()) {
    std::error_code ec;
    stdfs::remove_all(job, ec);
    throw mtk::Error("rendering test scene " + scene + " failed (exit " + std::to_string(r.status) + "): " + r.output,
                     "check that manim 0.19.0 works in " + venv_python().string());
  }
  const stdfs::path cached = root / (key + produced.extension().string());
  stdfs::rename(produced, cached);  // atomic within the same filesystem
  std::error_code ec;
  stdfs::remove_all(job, ec);
  return cached;
}

}  // namespace mtk::testing
