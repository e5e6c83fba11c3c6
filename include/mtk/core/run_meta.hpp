#pragma once
// run_meta.json: what a run's numbers depend on besides its inputs, written into every run folder
// (`manim-bench score`, `manim-agent run`, `manim-train sft`):
//   {"kind", "written_at" (UTC), "git": {"revision", "dirty"}, "toolkit_version",
//    "libtorch_version", "manim_version", "models": [{"role", "name", "path", "size", "sha256"}],
//    "config": the run's resolved options, "previous": the earlier segments of a resumed run}
// The git revision is read when the run starts, in the source tree of this build
// (mtk::build::kSourceDir): "unknown" (dirty null) when git or the repository is absent, never an
// error. Versions that need libtorch or the renderer come from the modules that own them
// (llm::libtorch_version(), render::manim_version()); a Manim that cannot be found is recorded as
// "unavailable: <reason>" instead of failing the run.
#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace mtk::run_meta {

struct GitRevision {
  std::string revision = "unknown";  // `git rev-parse HEAD`
  std::optional<bool> dirty;         // tracked files differ from HEAD (untracked ones do not count); unset: unknown
};
// Runs git (no shell) in `dir`; never throws.
GitRevision git_revision(const std::filesystem::path& dir);

// The sha256 of a file's content, remembered in `cache_dir` (default <cache_root>/file-sha256)
// under (absolute path, size, modification time): an unchanged file is hashed once, a file whose
// size or mtime changed is hashed again. A cache that cannot be written only costs the re-hash.
std::string file_sha256_cached(const std::filesystem::path& file, const std::filesystem::path& cache_dir = {});

// A model a run uses: its role ("model", "clip"...), the name it was given, the file or directory
// it resolved to. A file gets size and sha256; a directory gets "files": {name: {size, sha256}}
// for the regular files directly in it.
nlohmann::json model_json(const std::string& role, const std::string& name, const std::filesystem::path& path);

struct Inputs {
  std::string kind;                         // "manim-bench score", "manim-agent run", "manim-train sft"
  nlohmann::json config;                    // the resolved options of the run
  std::string libtorch_version;             // llm::libtorch_version()
  std::function<std::string()> manim_version;  // render::manim_version(python); an mtk::Error it throws is recorded
  std::vector<nlohmann::json> models;       // model_json(...) of each model used
  // The run continues what its folder holds (a resume): the folder's earlier run_meta.json is kept
  // under "previous" (oldest first), so a run that spans several revisions or models says so.
  bool resumed = false;
};

nlohmann::json collect(const Inputs& in);
// Writes collect(in) to <dir>/run_meta.json atomically (with "previous" when in.resumed).
void write(const std::filesystem::path& dir, const Inputs& in);

}  // namespace mtk::run_meta
