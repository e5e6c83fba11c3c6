#pragma once
// Helpers shared by the render sources; not part of the public API.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace mtk::render::detail {

// Replaces invalid UTF-8 sequences with U+FFFD (so the text can go into JSON).
std::string sanitize_utf8(std::string_view s);
// Splits at \n, dropping a \r before it.
std::vector<std::string_view> split_lines(std::string_view s);
// "pkg.mod.KeyError: 'x'" -> "KeyError"; "" when the line does not start with a dotted name.
std::string exception_type(std::string_view line);
// A Manim log line from stdout without rich's time, level and source-location columns.
std::string clean_log_line(std::string_view line);
// The LaTeX error context Manim logged on stdout ("LaTeX compilation error: ..." onwards).
std::vector<std::string> latex_context(std::string_view stdout_text, size_t max_lines = 14);

}  // namespace mtk::render::detail

#include <filesystem>
#include <utility>

namespace mtk::render::detail {

// Where a job's files appear inside the sandbox: fixed, short paths keep tracebacks (and so the
// feedback text and cached results) independent of the host's directory names.
inline constexpr const char* kSandboxJobDir = "/tmp/job";
inline constexpr const char* kSandboxTexDir = "/mtk/tex";

// What one sandbox shows. Everything is read-only except `work_dir`:
//   /usr (with the /bin, /sbin, /lib* links or directories), the parts of /etc that the dynamic
//   linker, fonts, TeX and the locale read, /var/lib/texmf (TeX's formats), /var/cache/fontconfig,
//   the venv of `python` (and the installation it points to when that is outside /usr),
//   `tex_cache` at kSandboxTexDir, `work_dir` (writable) at kSandboxJobDir, a private /tmp, /dev
//   and /proc. Nothing else: no /home, /root, /srv, /mnt, /media, /run, no other part of /var, no
//   project tree, no other job's directory.
struct SandboxView {
  std::filesystem::path python;
  std::filesystem::path tex_cache;  // empty: not shown
  std::filesystem::path work_dir;   // empty: none
  uint64_t tmp_bytes = 256ull << 20;
  std::vector<std::pair<std::string, std::string>> env;  // the whole environment inside
};

// bwrap's arguments for `view`, from the program name up to and including "--".
std::vector<std::string> sandbox_argv(const std::string& bwrap, const SandboxView& view);

// Bytes of disk (allocated blocks) and entries under `dir`, without following symlinks; stops
// counting once either passes its limit.
struct DiskUsage {
  uint64_t bytes = 0, entries = 0;
};
DiskUsage disk_usage(const std::filesystem::path& dir, uint64_t max_bytes, uint64_t max_entries);

// Removes a tree that untrusted code wrote: directories it made unreadable or unwritable are
// opened up first (we own them when not root). Returns false, with `error` set, when something
// is left.
bool remove_tree(const std::filesystem::path& dir, std::string& error);

}  // namespace mtk::render::detail
