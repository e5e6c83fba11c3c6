#include "mtk/core/fs.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <vector>

#include "mtk/build_info.hpp"
#include "mtk/core/error.hpp"

namespace mtk::fs {

std::string read_file(const stdfs::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) throw Error("cannot read " + p.string() + ": " + std::strerror(errno), "check the path");
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

static void write_all(int fd, std::string_view data, const stdfs::path& p) {
  const char* ptr = data.data();
  size_t left = data.size();
  while (left > 0) {
    ssize_t n = ::write(fd, ptr, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw Error("write failed for " + p.string() + ": " + std::strerror(errno), "check free disk space");
    }
    ptr += n;
    left -= static_cast<size_t>(n);
  }
}

void atomic_write(const stdfs::path& p, std::string_view data) {
  if (p.has_parent_path()) stdfs::create_directories(p.parent_path());
  std::string tmpl = (p.parent_path() / ("." + p.filename().string() + ".tmpXXXXXX")).string();
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  int fd = ::mkstemp(buf.data());
  if (fd < 0) throw Error("cannot create a file next to " + p.string() + ": " + std::strerror(errno), "check permissions");
  try {
    write_all(fd, data, p);
    if (::fsync(fd) != 0) throw Error("fsync failed for " + p.string());
    ::fchmod(fd, 0644);
  } catch (...) {
    ::close(fd);
    ::unlink(buf.data());
    throw;
  }
  ::close(fd);
  if (::rename(buf.data(), p.c_str()) != 0) {
    int e = errno;
    ::unlink(buf.data());
    throw Error("cannot rename into " + p.string() + ": " + std::strerror(e), "check permissions");
  }
}

void append_line(const stdfs::path& p, std::string_view line) {
  if (p.has_parent_path()) stdfs::create_directories(p.parent_path());
  int fd = ::open(p.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) throw Error("cannot open " + p.string() + ": " + std::strerror(errno), "check permissions");
  std::string s(line);
  s.push_back('\n');
  try {
    write_all(fd, s, p);  // one write() of the whole line: O_APPEND keeps concurrent lines whole
    ::fdatasync(fd);
  } catch (...) {
    ::close(fd);
    throw;
  }
  ::close(fd);
}

stdfs::path make_temp_dir(const stdfs::path& parent, const std::string& prefix) {
  stdfs::create_directories(parent);
  std::string tmpl = (parent / (prefix + "XXXXXX")).string();
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  if (!::mkdtemp(buf.data()))
    throw Error("cannot create a temporary directory in " + parent.string() + ": " + std::strerror(errno),
                "check permissions and free space");
  return stdfs::path(buf.data());
}

static const char* env_nonempty(const char* k) {
  const char* v = std::getenv(k);
  return (v && *v) ? v : nullptr;
}

stdfs::path cache_root() {
  if (auto v = env_nonempty("MTK_CACHE_DIR")) return stdfs::path(v);
  if (auto v = env_nonempty("XDG_CACHE_HOME")) return stdfs::path(v) / "manim-toolkit";
  if (auto v = env_nonempty("HOME")) return stdfs::path(v) / ".cache" / "manim-toolkit";
  return stdfs::temp_directory_path() / "manim-toolkit-cache";
}

stdfs::path project_root() {
  if (auto v = env_nonempty("MTK_HOME")) return stdfs::path(v);
  return stdfs::path(build::kSourceDir);
}

stdfs::path manim_python() {
  if (auto v = env_nonempty("MTK_PYTHON")) return stdfs::path(v);
  return project_root() / ".venv" / "bin" / "python";
}

}  // namespace mtk::fs
