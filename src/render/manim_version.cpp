#include <algorithm>
#include <map>
#include <vector>
#include <mutex>

#include "mtk/core/error.hpp"
#include "mtk/core/fs.hpp"
#include "mtk/core/hash.hpp"
#include "mtk/core/process.hpp"
#include "mtk/render/render.hpp"

namespace mtk::render {

namespace {

namespace stdfs = std::filesystem;

// "Version: 0.19.0" from <venv>/lib/python*/site-packages/manim-*.dist-info/METADATA.
std::string version_from_dist_info(const stdfs::path& python) {
  std::error_code ec;
  stdfs::path lib = python.parent_path().parent_path() / "lib";
  if (!stdfs::is_directory(lib, ec)) return {};
  for (const auto& py : stdfs::directory_iterator(lib, ec)) {
    stdfs::path sp = py.path() / "site-packages";
    if (py.path().filename().string().rfind("python", 0) != 0 || !stdfs::is_directory(sp, ec)) continue;
    for (const auto& d : stdfs::directory_iterator(sp, ec)) {
      std::string name = d.path().filename().string();
      if (name.rfind("manim-", 0) != 0 || d.path().extension() != ".dist-info") continue;
      std::string meta;
      try {
        meta = fs::read_file(d.path() / "METADATA");
      } catch (const Error&) {
        continue;
      }
      size_t p = meta.find("\nVersion: ");
      if (p == std::string::npos) continue;
      size_t e = meta.find('\n', p + 10);
      std::string v = meta.substr(p + 10, e == std::string::npos ? std::string::npos : e - p - 10);
      while (!v.empty() && (v.back() == '\r' || v.back() == ' ')) v.pop_back();
      if (!v.empty()) return v;
    }
  }
  return {};
}

// Sorted names of every *.dist-info directory in the venv's site-packages ("numpy-2.2.6.dist-info"
// carries the version), so any change of an installed package changes the fingerprint.
std::string installed_packages(const stdfs::path& python) {
  std::error_code ec;
  std::vector<std::string> names;
  stdfs::path lib = python.parent_path().parent_path() / "lib";
  if (!stdfs::is_directory(lib, ec)) return {};
  for (const auto& py : stdfs::directory_iterator(lib, ec)) {
    stdfs::path sp = py.path() / "site-packages";
    if (!stdfs::is_directory(sp, ec)) continue;
    for (const auto& d : stdfs::directory_iterator(sp, ec))
      if (d.path().extension() == ".dist-info") names.push_back(d.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  std::string out;
  for (const auto& n : names) out += n + "\n";
  return out;
}

}  // namespace

std::string render_environment(const stdfs::path& python) {
  static std::mutex mu;
  static std::map<std::string, std::string> known;
  std::string v = manim_version(python);
  std::lock_guard<std::mutex> lk(mu);
  auto it = known.find(python.string());
  if (it != known.end()) return it->second;
  std::string fp = "manim " + v + "; packages " + sha256_hex(installed_packages(python)).substr(0, 16);
  known[python.string()] = fp;
  return fp;
}

std::string manim_version(const stdfs::path& python) {
  static std::mutex mu;
  static std::map<std::string, std::string> known;
  std::lock_guard<std::mutex> lk(mu);
  auto it = known.find(python.string());
  if (it != known.end()) return it->second;

  std::string v = version_from_dist_info(python);
  if (v.empty()) {
    proc::Spec spec;
    spec.argv = {python.string(), "-c", "import sys, manim; sys.stdout.write(manim.__version__)"};
    spec.env = {"PATH=/usr/bin:/bin", "LANG=C.UTF-8", "HOME=/nonexistent", "PYTHONDONTWRITEBYTECODE=1"};
    spec.timeout_s = 120;
    auto r = proc::run(spec);
    if (!r.started())
      throw Error("cannot run the Manim Python " + python.string() + ": " + r.spawn_error,
                  "run scripts/setup.sh, or point MTK_PYTHON (RenderOptions::python) at a Python with manim==0.19.0");
    if (r.exit_code != 0 || r.out.empty() || r.out.size() > 64)
      throw Error("Manim is not importable with " + python.string(),
                  "run scripts/setup.sh, or point MTK_PYTHON (RenderOptions::python) at a Python with manim==0.19.0");
    v = r.out;
  }
  known[python.string()] = v;
  return v;
}

}  // namespace mtk::render
