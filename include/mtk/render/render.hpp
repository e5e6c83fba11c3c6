#pragma once
// Rendering untrusted Manim code: one sandboxed `python -m manim render` per job.
//
// Each job gets a fresh directory holding scene.py and a manim.cfg. Manim runs inside bubblewrap
// (--unshare-all: no network; only the system directories, the venv and the LaTeX cache, all
// read-only, plus the job directory, writable, at /tmp/job; private /tmp and HOME; clean
// environment; own session and pid namespace; see detail::SandboxView for the exact list) as uid
// 65534 when we are root, under RLIMIT_AS/CPU/FSIZE/NPROC, a disk quota on the job directory and
// a wall-clock limit that kills the whole process group. The output is checked on disk (exit
// status 0 does not mean a video was written), moved to the render cache (or `output_dir`), and
// the job directory is deleted. The shared LaTeX cache holds only SVGs that the toolkit compiled
// itself from a job's .tex sources, in a sandbox of their own: no job can change what another
// job's formulas look like.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

#include "mtk/render/feedback.hpp"
#include "mtk/render/result.hpp"
#include "mtk/render/scenes.hpp"

namespace mtk::render {

class RenderCache;

// Bumped whenever a change here can change a RenderResult for the same code: part of cache keys.
// 2: the sandbox shows only what Manim needs, and the LaTeX cache holds only the toolkit's SVGs.
inline constexpr int kRenderFormatVersion = 2;

struct RenderOptions {
  std::string quality = "l";  // Manim's -q: l (854x480, 15 fps), m, h, p, k
  double timeout_s = 300;     // wall clock per job
  // Manim 0.19 hangs after printing the traceback of an error raised mid-animation; a job whose
  // stderr ends in a traceback and that stays silent this long is stopped and classified by
  // its exception instead of running into the timeout. 0 = off.
  double stall_s = 3;
  uint64_t memory_bytes = 4ull << 30;      // RLIMIT_AS
  double cpu_seconds = 0;                  // RLIMIT_CPU per process; 0 = timeout_s + 30
  uint64_t max_file_bytes = 1ull << 30;    // RLIMIT_FSIZE
  unsigned max_processes = 64;             // RLIMIT_NPROC inside the sandbox (per job)
  // Disk quota of the job directory (which is also its HOME), enforced while the job runs: more
  // allocated bytes or more files than this kill it with failure class `disk`.
  uint64_t disk_bytes = 2ull << 30;
  uint64_t max_files = 100000;
  int feedback_lines = 10;
  int columns = 80;  // COLUMNS for rich's tracebacks
  std::filesystem::path python;  // empty: fs::manim_python()
  std::filesystem::path bwrap;   // bubblewrap; empty: looked up in /usr/bin:/bin:/usr/local/bin
  // Job directories. Empty: fs::cache_root()/jobs, or /var/tmp/manim-toolkit-<uid>/jobs when
  // that is not reachable by the sandbox user (e.g. under a 0700 /root).
  std::filesystem::path job_root;
  // Shared LaTeX cache (<hash>.tex/.svg pairs); same defaulting as job_root ("tex").
  std::filesystem::path tex_cache;
  bool use_tex_cache = true;
  // Where outputs go when the Renderer has no RenderCache: <output_dir>/<cache key>.mp4|.png.
  // Empty: fs::cache_root()/outputs.
  std::filesystem::path output_dir;
  // Without bubblewrap: run Manim directly (still with rlimits, timeout, clean environment, own
  // session, uid 65534 when root). Not a security boundary.
  bool allow_unsandboxed = false;
  bool keep_job_dir = false;  // for debugging; the path is logged
  int sandbox_uid = 65534;    // used only when running as root
  int sandbox_gid = 65534;
  // Set as MTK_JOB_TAG in every job's environment when non-empty: lets a supervisor (or a test)
  // find the job's processes in /proc when they run under its own uid.
  std::string job_tag;
};

struct RenderJob {
  std::string code;
  std::string scene;  // empty: choose_scene(code)
  std::string id;     // free-form, copied into the result
};

class Renderer {
 public:
  // Throws mtk::Error for invalid options (unknown quality, non-positive timeout).
  explicit Renderer(RenderOptions opts = {}, std::shared_ptr<RenderCache> cache = nullptr);
  ~Renderer();
  Renderer(const Renderer&) = delete;
  Renderer& operator=(const Renderer&) = delete;

  // Never throws for bad code or a broken environment: those come back as failure classes.
  // Thread-safe; jobs may run concurrently.
  RenderResult render(const RenderJob& job);

  // Throws mtk::Error naming the fix when renders cannot work here (bwrap missing or unable to
  // create namespaces without allow_unsandboxed, Python or Manim missing). Programs call it once
  // at start-up; render() reports the same problem as class `sandbox`.
  void check_environment();
  bool sandboxed();  // false when running without bwrap (allow_unsandboxed fallback)

  const RenderOptions& options() const;
  const std::shared_ptr<RenderCache>& cache() const;
  // The cache key of a job (sha256 over code, scene, Manim version, quality, format version).
  // Throws mtk::Error when the Manim version cannot be read.
  std::string cache_key(const std::string& code, const std::string& scene);
  std::filesystem::path job_root() const;   // resolved
  std::filesystem::path tex_cache() const;  // resolved

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Manim's version in the environment of `python` (read from its dist-info, else by running it),
// cached per process. Throws mtk::Error naming the fix when Manim is not installed there.
std::string manim_version(const std::filesystem::path& python);
// What a render's outcome depends on besides the code: Manim's version and a fingerprint of every
// package installed beside it (NumPy or Pillow upgrades change Manim's behaviour). Part of the
// render cache key. Cached per process.
std::string render_environment(const std::filesystem::path& python);

}  // namespace mtk::render
