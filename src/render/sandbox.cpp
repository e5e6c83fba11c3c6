// The sandbox's view of the file system (bubblewrap arguments), and the job directory's disk
// accounting and removal.
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "internal.hpp"

namespace mtk::render::detail {

namespace stdfs = std::filesystem;

namespace {

// Read-only, each when present. /etc is limited to what the dynamic linker (ld.so.cache and the
// /etc/alternatives links that Debian's BLAS and TeX binaries go through), fontconfig, TeX
// (texmf.cnf) and the C library's locale and time zone read.
constexpr const char* kSystemPaths[] = {
    "/usr",
    "/etc/ld.so.cache",
    "/etc/ld.so.conf",
    "/etc/ld.so.conf.d",
    "/etc/alternatives",
    "/etc/fonts",
    "/etc/texmf",
    "/etc/locale.alias",
    "/etc/localtime",
    "/var/lib/texmf",         // TeX's format files and ls-R
    "/var/cache/fontconfig",  // fontconfig's cache: without it every job rescans the fonts
};
// On a merged-/usr system these are links into /usr; elsewhere directories.
constexpr const char* kTopLinks[] = {"/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"};

bool under(const stdfs::path& p, const stdfs::path& dir) {
  auto rel = p.lexically_relative(dir);
  return !rel.empty() && *rel.begin() != "..";
}

}  // namespace

std::vector<std::string> sandbox_argv(const std::string& bwrap, const SandboxView& view) {
  std::vector<std::string> a = {bwrap, "--unshare-all", "--die-with-parent", "--new-session", "--clearenv"};
  for (const char* top : kTopLinks) {
    struct stat st;
    if (::lstat(top, &st) != 0) continue;
    if (S_ISLNK(st.st_mode)) {
      char target[4096];
      ssize_t n = ::readlink(top, target, sizeof target - 1);
      if (n <= 0) continue;
      a.insert(a.end(), {"--symlink", std::string(target, static_cast<size_t>(n)), top});
    } else if (S_ISDIR(st.st_mode)) {
      a.insert(a.end(), {"--ro-bind", top, top});
    }
  }
  for (const char* p : kSystemPaths) a.insert(a.end(), {"--ro-bind-try", p, p});
  // /tmp first: what is bound below may live under the host's /tmp (a checkout there, say) and
  // must not be hidden by the private /tmp mounted over it.
  a.insert(a.end(), {"--dev", "/dev", "--proc", "/proc", "--size", std::to_string(view.tmp_bytes), "--tmpfs", "/tmp"});
  if (!view.python.empty()) {
    // The venv, at its own path (its scripts and sys.prefix name it), and the Python it was made
    // from when that lives outside /usr (a pyenv or conda build, say).
    const stdfs::path venv = view.python.parent_path().parent_path();
    a.insert(a.end(), {"--ro-bind", venv.string(), venv.string()});
    std::error_code ec;
    const stdfs::path real = stdfs::canonical(view.python, ec);
    if (!ec && !under(real, "/usr") && !under(real, venv)) {
      const stdfs::path prefix = real.parent_path().parent_path();
      a.insert(a.end(), {"--ro-bind", prefix.string(), prefix.string()});
    }
  }
  if (!view.tex_cache.empty()) a.insert(a.end(), {"--ro-bind", view.tex_cache.string(), kSandboxTexDir});
  if (!view.work_dir.empty())
    a.insert(a.end(), {"--bind", view.work_dir.string(), kSandboxJobDir, "--chdir", kSandboxJobDir});
  // The root itself (bwrap's tmpfs holding the mount points) read-only too: nothing can be
  // written outside the job directory and /tmp, not even into the sandbox's own skeleton.
  a.insert(a.end(), {"--remount-ro", "/"});
  for (const auto& [k, v] : view.env) a.insert(a.end(), {"--setenv", k, v});
  a.push_back("--");
  return a;
}

DiskUsage disk_usage(const stdfs::path& dir, uint64_t max_bytes, uint64_t max_entries) {
  DiskUsage u;
  std::error_code ec;
  stdfs::recursive_directory_iterator it(dir, stdfs::directory_options::skip_permission_denied, ec), end;
  for (; !ec && it != end; it.increment(ec)) {
    struct stat st;
    if (::lstat(it->path().c_str(), &st) != 0) continue;
    u.bytes += static_cast<uint64_t>(st.st_blocks) * 512;
    ++u.entries;
    if (u.bytes > max_bytes || u.entries > max_entries) break;
  }
  return u;
}

bool remove_tree(const stdfs::path& dir, std::string& error) {
  std::error_code ec;
  stdfs::remove_all(dir, ec);
  if (!ec) return true;
  // Open up every directory we own (the job may have chmod-ed some to 0), then try again.
  for (int pass = 0; pass < 2 && stdfs::exists(dir, ec); ++pass) {
    ::chmod(dir.c_str(), 0700);
    std::error_code ec2;
    for (stdfs::recursive_directory_iterator it(dir, stdfs::directory_options::skip_permission_denied, ec2), e;
         !ec2 && it != e; it.increment(ec2)) {
      struct stat st;
      if (::lstat(it->path().c_str(), &st) == 0 && S_ISDIR(st.st_mode)) ::chmod(it->path().c_str(), 0700);
    }
    ec.clear();
    stdfs::remove_all(dir, ec);
    if (!ec) return true;
  }
  error = ec ? ec.message() : "unknown error";
  return !stdfs::exists(dir, ec);
}

}  // namespace mtk::render::detail
