#pragma once
// Files: whole-file reads, atomic writes (temp file + fsync + rename), temp dirs, cache roots.
#include <filesystem>
#include <string>
#include <string_view>

namespace mtk::fs {

namespace stdfs = std::filesystem;

std::string read_file(const stdfs::path& p);  // throws mtk::Error naming the path
// Writes to a temp file in the same directory, fsyncs it and renames it over p: readers see
// either the old or the new content, never a partial file. Creates parent directories.
void atomic_write(const stdfs::path& p, std::string_view data);
// Appends one line (a '\n' is added) and flushes; used for JSONL result stores.
void append_line(const stdfs::path& p, std::string_view line);
// mkdtemp under `parent` (created if needed) with the given prefix.
stdfs::path make_temp_dir(const stdfs::path& parent, const std::string& prefix);
// Root of the per-user cache: $MTK_CACHE_DIR, else $XDG_CACHE_HOME/manim-toolkit, else
// ~/.cache/manim-toolkit.
stdfs::path cache_root();
// Project root holding configs/, data/ and .venv: $MTK_HOME, else the source dir of this build.
stdfs::path project_root();
// Python interpreter with Manim: $MTK_PYTHON, else <project_root>/.venv/bin/python.
stdfs::path manim_python();

}  // namespace mtk::fs
