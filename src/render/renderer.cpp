#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <mutex>
#include <set>

#include <spdlog/spdlog.h>

#include "internal.hpp"
#include "mtk/core/error.hpp"
#include "mtk/core/fs.hpp"
#include "mtk/core/hash.hpp"
#include "mtk/core/process.hpp"
#include "mtk/core/strings.hpp"
#include "mtk/render/cache.hpp"
#include "mtk/render/render.hpp"

namespace mtk::render {

namespace stdfs = std::filesystem;

namespace {

using detail::kSandboxJobDir;
using detail::kSandboxTexDir;
constexpr uint64_t kSandboxTmpBytes = 256ull << 20;
// The toolkit's own TeX step (see cache_new_tex): at most this many new formulas per job, each at
// most 1 MiB of source and 16 MiB of SVG, all within kTexStepTimeout seconds.
constexpr size_t kMaxNewTexPerJob = 64;
constexpr double kTexStepTimeout = 60;
constexpr const char* kManimCfg =
    "[CLI]\n"
    "notify_outdated_version = False\n"
    "\n"
    "[logger]\n"
    "log_timestamps = False\n";


std::string seconds_str(double s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", s);
  return buf;
}

bool valid_identifier(const std::string& s) {
  if (s.empty() || s.size() > 200) return false;
  if (!(std::isalpha(static_cast<unsigned char>(s[0])) || s[0] == '_')) return false;
  for (char c : s)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_')) return false;
  return true;
}

// Can (uid, gid) search every existing directory on the way to `p`?
bool reachable_by(const stdfs::path& p, int uid, int gid) {
  std::error_code ec;
  stdfs::path abs = stdfs::weakly_canonical(stdfs::absolute(p, ec), ec);
  stdfs::path cur;
  for (const auto& part : abs) {
    cur /= part;
    struct stat st;
    if (::stat(cur.c_str(), &st) != 0) break;  // the rest will be created by us
    if (!S_ISDIR(st.st_mode)) return false;
    mode_t bit = static_cast<int>(st.st_uid) == uid ? S_IXUSR : static_cast<int>(st.st_gid) == gid ? S_IXGRP : S_IXOTH;
    if (!(st.st_mode & bit)) return false;
  }
  return true;
}

// A directory of ours for the fallback roots, refusing one planted by another user.
stdfs::path private_var_tmp_base() {
  stdfs::path base = "/var/tmp/manim-toolkit-" + std::to_string(::geteuid());
  if (::mkdir(base.c_str(), 0711) != 0 && errno != EEXIST)
    throw Error("cannot create " + base.string() + ": " + std::strerror(errno), "set RenderOptions::job_root and tex_cache");
  struct stat st;
  if (::lstat(base.c_str(), &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != ::geteuid())
    throw Error(base.string() + " is not a directory owned by us", "remove it, or set RenderOptions::job_root and tex_cache");
  ::chmod(base.c_str(), 0711);
  return base;
}

// Every component from `root` down to `p` must be a real directory / file, not a symlink the
// sandboxed code planted to make us read or move something else.
bool no_symlinks_below(const stdfs::path& root, const stdfs::path& p) {
  stdfs::path cur = root;
  for (const auto& part : p.lexically_relative(root)) {
    if (part == "..") return false;
    cur /= part;
    struct stat st;
    if (::lstat(cur.c_str(), &st) != 0 || S_ISLNK(st.st_mode)) return false;
  }
  return true;
}

bool is_tex_hash_name(const std::string& name, const char* ext) {
  const size_t el = std::strlen(ext);
  if (name.size() != 16 + el || name.compare(16, el, ext) != 0) return false;
  for (size_t i = 0; i < 16; ++i) {
    char c = name[i];
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

void chown_tree(const stdfs::path& dir, int uid, int gid) {
  if (::lchown(dir.c_str(), static_cast<uid_t>(uid), static_cast<gid_t>(gid)) != 0)
    throw Error("cannot chown " + dir.string() + ": " + std::strerror(errno), "run as root or as the sandbox user");
  for (const auto& e : stdfs::recursive_directory_iterator(dir)) {
    int rc = ::lchown(e.path().c_str(), static_cast<uid_t>(uid), static_cast<gid_t>(gid));
    (void)rc;
  }
}

std::string first_line(const std::string& s) {
  auto lines = detail::split_lines(s);
  for (auto l : lines)
    if (!l.empty()) return std::string(l);
  return {};
}

std::string signal_name(int sig) {
  const char* d = ::strsignal(sig);
  return "signal " + std::to_string(sig) + (d ? std::string(" (") + d + ")" : std::string());
}

// Removes the job directory when the render is over, unless asked to keep it (never one that went
// over its disk quota).
struct JobDir {
  stdfs::path path;
  bool keep = false;
  ~JobDir() {
    if (path.empty()) return;
    if (keep) {
      spdlog::info("render: kept job directory {}", path.string());
      return;
    }
    std::string err;
    if (!detail::remove_tree(path, err)) spdlog::warn("render: cannot remove job directory {}: {}", path.string(), err);
  }
};

}  // namespace

struct Renderer::Impl {
  RenderOptions opt;
  std::shared_ptr<RenderCache> cache;
  stdfs::path python, job_root, tex_cache, output_dir;
  bool as_root = false;
  std::string path_error;  // a configured directory the sandbox user cannot reach

  std::once_flag probe_once;
  std::string env_error, env_fix;
  bool sandboxed = true;
  std::string bwrap, prlimit, version;

  void probe();
  RenderResult run(const RenderJob& job, const std::string& scene, JobDir& jd);
  std::vector<std::string> manim_args(const std::string& scene) const;
  void classify(RenderResult& r, const proc::Result& pr, const stdfs::path& dir) const;
  std::vector<std::pair<std::string, std::string>> job_env(const std::string& home) const;
  void prepare_tex(const stdfs::path& tex_dir) const;
  void cache_new_tex(const stdfs::path& tex_dir) const;
};

Renderer::Renderer(RenderOptions opts, std::shared_ptr<RenderCache> cache) : impl_(std::make_unique<Impl>()) {
  static const std::set<std::string> kQualities = {"l", "m", "h", "p", "k"};
  if (!kQualities.count(opts.quality))
    throw Error("unknown render quality '" + opts.quality + "'", "use l, m, h, p or k (Manim's -q flag)");
  if (!(opts.timeout_s > 0)) throw Error("render timeout must be positive", "set render.timeout_s, e.g. 300");
  if (opts.memory_bytes < (256ull << 20))
    throw Error("render memory limit below 256 MiB", "Manim needs about 700 MB; use at least 1 GiB");
  if (opts.max_processes < 4) throw Error("render process limit below 4", "use at least 16");
  if (opts.disk_bytes < (64ull << 20))
    throw Error("render disk quota below 64 MiB", "a short -ql video needs a few MiB; use the default 2 GiB");
  if (opts.max_files < 100) throw Error("render file-count limit below 100", "use the default 100000");
  Impl& m = *impl_;
  m.opt = std::move(opts);
  m.cache = std::move(cache);
  m.python = m.opt.python.empty() ? fs::manim_python() : m.opt.python;
  m.as_root = ::geteuid() == 0;
  m.output_dir = m.opt.output_dir.empty() ? fs::cache_root() / "outputs" : m.opt.output_dir;

  // The sandbox user must reach the job and LaTeX directories by path.
  auto pick = [&](const stdfs::path& configured, const char* leaf) -> stdfs::path {
    if (!configured.empty()) {
      if (m.as_root && !reachable_by(configured, m.opt.sandbox_uid, m.opt.sandbox_gid) && m.path_error.empty())
        m.path_error = configured.string() + " is not reachable by the sandbox user (uid " +
                       std::to_string(m.opt.sandbox_uid) + "): a parent directory denies search permission";
      return configured;
    }
    stdfs::path preferred = fs::cache_root() / leaf;
    if (!m.as_root || reachable_by(preferred, m.opt.sandbox_uid, m.opt.sandbox_gid)) return preferred;
    return stdfs::path("/var/tmp/manim-toolkit-" + std::to_string(::geteuid())) / leaf;
  };
  m.job_root = pick(m.opt.job_root, "jobs");
  m.tex_cache = pick(m.opt.tex_cache, "tex");
}

Renderer::~Renderer() = default;

const RenderOptions& Renderer::options() const { return impl_->opt; }
const std::shared_ptr<RenderCache>& Renderer::cache() const { return impl_->cache; }
stdfs::path Renderer::job_root() const { return impl_->job_root; }
stdfs::path Renderer::tex_cache() const { return impl_->tex_cache; }

void Renderer::Impl::probe() {
  auto fail = [&](std::string what, std::string fix) {
    env_error = std::move(what);
    env_fix = std::move(fix);
  };
  if (!path_error.empty())
    return fail(path_error, "choose RenderOptions::job_root / tex_cache under a world-searchable directory, e.g. /var/tmp/mtk");
  if (proc::find_executable(python.string()).empty())
    return fail("Python with Manim not found at " + python.string(),
                "run scripts/setup.sh, or set MTK_PYTHON (RenderOptions::python) to a Python with manim==0.19.0");
  try {
    version = render_environment(python);
    for (const auto& d : {job_root, tex_cache}) {
      bool fallback = d.parent_path().filename().string().rfind("manim-toolkit-", 0) == 0 &&
                      d.parent_path().parent_path() == "/var/tmp";
      if (fallback) private_var_tmp_base();
      if (!stdfs::exists(d)) {
        stdfs::create_directories(d);
        ::chmod(d.c_str(), d == job_root ? 0711 : 0755);
      }
      if (fallback) spdlog::debug("render: using {} (the default under {} is not reachable by uid {})", d.string(),
                                 fs::cache_root().string(), opt.sandbox_uid);
    }
  } catch (const Error& e) {
    return fail(e.what(), {});  // what() already names the fix
  } catch (const std::exception& e) {
    return fail(e.what(), "check permissions and free space");
  }
  prlimit = proc::find_executable("prlimit", "/usr/bin:/bin:/usr/sbin:/sbin");

  const std::string unsandboxed_hint = "or set allow_unsandboxed (render.allow_unsandboxed=true) to run without a sandbox";
  bwrap = opt.bwrap.empty() ? proc::find_executable("bwrap", "/usr/bin:/bin:/usr/local/bin")
                            : proc::find_executable(opt.bwrap.string());
  std::string problem, fix;
  if (bwrap.empty()) {
    problem = "bubblewrap (" + (opt.bwrap.empty() ? std::string("bwrap") : opt.bwrap.string()) + ") is not installed";
    fix = "install it (apt-get install bubblewrap), " + unsandboxed_hint;
  } else {
    proc::Spec s;
    detail::SandboxView view;
    view.python = python;
    view.tex_cache = tex_cache;
    view.work_dir = job_root;
    s.argv = detail::sandbox_argv(bwrap, view);
    s.argv.insert(s.argv.end(), {python.string(), "-c", "pass"});  // the venv is visible and runs
    s.env = {"PATH=/usr/bin:/bin"};
    s.timeout_s = 30;
    if (as_root) s.uid = opt.sandbox_uid, s.gid = opt.sandbox_gid;
    auto r = proc::run(s);
    if (!r.started() || r.exit_code != 0) {
      std::string msg = r.started() ? first_line(r.err) : r.spawn_error;
      if (!r.started() || msg.rfind("bwrap:", 0) == 0) {
        problem = "bubblewrap cannot create a sandbox here" + (msg.empty() ? std::string() : ": " + msg);
        fix = "enable unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1, "
              "user.max_user_namespaces > 0; in a container allow clone/unshare), " + unsandboxed_hint;
      } else {
        return fail("the Python at " + python.string() + " does not run inside the sandbox" +
                        (msg.empty() ? std::string() : ": " + msg),
                    "make the venv with scripts/setup.sh (from a Python under /usr), or set MTK_PYTHON to a venv "
                    "whose Python the sandbox can see");
      }
    }
  }
  if (problem.empty()) return;
  if (!opt.allow_unsandboxed) return fail(problem, fix);
  sandboxed = false;
  static std::once_flag warned;  // once per process, however many Renderers
  std::call_once(warned, [&] {
    spdlog::warn("!!! render: {}; RENDERING UNTRUSTED CODE WITHOUT A SANDBOX (allow_unsandboxed is set): only "
                 "rlimits, a timeout, a clean environment{} protect this machine !!!",
                 problem, as_root ? " and uid " + std::to_string(opt.sandbox_uid) : std::string());
  });
}

void Renderer::check_environment() {
  std::call_once(impl_->probe_once, [&] { impl_->probe(); });
  if (!impl_->env_error.empty()) throw Error(impl_->env_error, impl_->env_fix);
}

bool Renderer::sandboxed() {
  std::call_once(impl_->probe_once, [&] { impl_->probe(); });
  return impl_->env_error.empty() && impl_->sandboxed;
}

std::string Renderer::cache_key(const std::string& code, const std::string& scene) {
  return RenderCache::key(code, scene, render_environment(impl_->python), impl_->opt.quality, kRenderFormatVersion);
}

std::vector<std::string> Renderer::Impl::manim_args(const std::string& scene) const {
  return {python.string(), "-m", "manim", "render", "-q" + opt.quality, "--format", "mp4", "--disable_caching",
          "--progress_bar", "none", "-v", "WARNING", "--media_dir", "media", "-o", "out", "scene.py", scene};
}

std::vector<std::pair<std::string, std::string>> Renderer::Impl::job_env(const std::string& home) const {
  std::vector<std::pair<std::string, std::string>> env = {
      {"PATH", "/usr/bin:/bin"},         {"HOME", home},
      {"LANG", "C.UTF-8"},               {"COLUMNS", std::to_string(opt.columns)},
      {"TMPDIR", "/tmp"},                {"PYTHONDONTWRITEBYTECODE", "1"},
      {"PYTHONHASHSEED", "0"},           {"OPENBLAS_NUM_THREADS", "1"},
      {"OMP_NUM_THREADS", "1"},          {"MPLBACKEND", "Agg"}};
  if (!opt.job_tag.empty()) env.emplace_back("MTK_JOB_TAG", opt.job_tag);
  return env;
}

// The job sees the cache's formulas as links into it (read-only in the sandbox), so Manim finds
// an SVG for every formula the toolkit has already compiled.
void Renderer::Impl::prepare_tex(const stdfs::path& tex_dir) const {
  std::error_code ec;
  for (const auto& e : stdfs::directory_iterator(tex_cache, ec)) {
    std::string name = e.path().filename().string();
    if (!is_tex_hash_name(name, ".svg") && !is_tex_hash_name(name, ".tex")) continue;
    std::error_code ec2;
    stdfs::create_symlink(sandboxed ? stdfs::path(kSandboxTexDir) / name : e.path(), tex_dir / name, ec2);
  }
}

// Nothing a job writes is trusted by another job: the shared LaTeX cache takes only SVGs that the
// toolkit itself made from a job's .tex sources alone, with Manim's own commands (latex to DVI,
// then dvisvgm), in a sandbox of their own. A job can add formulas to the cache, never pictures.
void Renderer::Impl::cache_new_tex(const stdfs::path& tex_dir) const {
  std::vector<std::pair<std::string, std::string>> todo;  // (hash, source)
  std::error_code ec;
  for (const auto& e : stdfs::directory_iterator(tex_dir, ec)) {
    if (todo.size() >= kMaxNewTexPerJob) break;
    const std::string name = e.path().filename().string();
    if (!is_tex_hash_name(name, ".tex")) continue;
    const std::string stem = name.substr(0, 16);
    struct stat st;
    if (::lstat(e.path().c_str(), &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > (1 << 20)) continue;
    std::error_code ec2;
    if (stdfs::exists(tex_cache / (stem + ".svg"), ec2)) continue;
    try {
      std::string src = fs::read_file(e.path());
      if (sha256_hex(src).substr(0, 16) != stem) continue;  // not what Manim would have named it
      todo.emplace_back(stem, std::move(src));
    } catch (const std::exception&) {
    }
  }
  if (todo.empty()) return;

  JobDir work;
  work.path = fs::make_temp_dir(job_root, "tex-");
  ::chmod(work.path.c_str(), 0700);
  const stdfs::path out = work.path / "media" / "Tex";  // the relative paths Manim uses
  std::string stems;
  for (const auto& [stem, src] : todo) {
    fs::atomic_write(out / (stem + ".tex"), src);
    stems += " " + stem;
  }
  if (as_root) chown_tree(work.path, opt.sandbox_uid, opt.sandbox_gid);
  // Manim's compile_tex and convert_to_svg with their arguments (utils/tex_file_writing.py, 0.19).
  const std::string script =
      "for s in" + stems + "; do "
      "latex -interaction=batchmode -output-format=dvi -halt-on-error -output-directory=media/Tex media/Tex/$s.tex "
      ">/dev/null && dvisvgm --page=1 --no-fonts --verbosity=0 --output=media/Tex/$s.svg media/Tex/$s.dvi >/dev/null; "
      "done";
  proc::Spec s;
  s.timeout_s = kTexStepTimeout;
  s.limits.address_space = static_cast<int64_t>(opt.memory_bytes);
  s.limits.cpu_seconds = static_cast<int64_t>(kTexStepTimeout);
  s.limits.file_size = 64 << 20;
  s.limits.core_size = 0;
  s.capture_limit = 64 << 10;
  if (as_root) s.uid = opt.sandbox_uid, s.gid = opt.sandbox_gid;
  if (sandboxed) {
    detail::SandboxView view;
    view.work_dir = work.path;
    view.env = job_env(kSandboxJobDir);
    s.argv = detail::sandbox_argv(bwrap, view);
    if (!prlimit.empty()) s.argv.insert(s.argv.end(), {prlimit, "--nproc=" + std::to_string(opt.max_processes), "--"});
    s.env = {"PATH=/usr/bin:/bin"};
  } else {
    for (const auto& [k, v] : job_env(work.path.string())) s.env.push_back(k + "=" + v);
    s.cwd = work.path.string();
    s.limits.processes = opt.max_processes;
  }
  s.argv.insert(s.argv.end(), {"/bin/sh", "-c", script});
  const proc::Result pr = proc::run(s);
  if (!pr.started() || pr.timed_out)
    spdlog::warn("render: the LaTeX cache's TeX step did not finish: {}", pr.started() ? "timeout" : pr.spawn_error);
  for (const auto& [stem, src] : todo) {
    const stdfs::path svg = out / (stem + ".svg");
    struct stat st;
    if (::lstat(svg.c_str(), &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > (16 << 20) ||
        !no_symlinks_below(work.path, svg))
      continue;
    try {
      std::string svg_src = fs::read_file(svg);
      if (svg_src.rfind("<?xml", 0) != 0 && svg_src.rfind("<svg", 0) != 0) continue;
      fs::atomic_write(tex_cache / (stem + ".tex"), src);
      fs::atomic_write(tex_cache / (stem + ".svg"), svg_src);  // last: its presence is what Manim checks
    } catch (const std::exception& ex) {
      spdlog::debug("render: LaTeX cache entry {} not stored: {}", stem, ex.what());
    }
  }
}

RenderResult Renderer::render(const RenderJob& job) {
  Impl& m = *impl_;
  RenderResult r;
  r.id = job.id;
  auto fail = [&](FailureClass c, std::string line) {
    r.success = false;
    r.failure = c;
    r.error_line = std::move(line);
    return r;
  };
  try {
    std::string scene = job.scene;
    if (!scene.empty()) {
      r.scene = scene;
      if (!valid_identifier(scene)) return fail(FailureClass::no_scene, "Invalid scene name '" + scene + "'");
      bool defined = false;
      for (const auto& c : scan_classes(job.code)) defined |= c.name == scene;
      if (!defined) {
        auto found = detect_scenes(job.code);
        std::string list;
        for (const auto& s : found) list += (list.empty() ? "" : ", ") + s;
        return fail(FailureClass::no_scene, "Scene '" + scene + "' is not defined in the code" +
                                                (list.empty() ? "; it defines no Scene subclass" : "; scenes found: " + list));
      }
    } else {
      scene = choose_scene(job.code);
      if (scene.empty())
        return fail(FailureClass::no_scene,
                    "No Scene subclass found in the code; define a class such as `class Main(Scene):` with a "
                    "construct(self) method");
      r.scene = scene;
    }

    std::call_once(m.probe_once, [&] { m.probe(); });
    if (!m.env_error.empty())
      return fail(FailureClass::sandbox, m.env_fix.empty() ? m.env_error : m.env_error + " (fix: " + m.env_fix + ")");

    const std::string key = RenderCache::key(job.code, scene, m.version, m.opt.quality, kRenderFormatVersion);
    if (m.cache) {
      if (auto hit = m.cache->get(key)) {
        hit->id = job.id;
        return *hit;
      }
    }

    JobDir jd;
    r = m.run(job, scene, jd);
    if (m.cache && RenderCache::cacheable(r)) {
      r = m.cache->put(key, r);
    } else if (!r.output.empty()) {
      stdfs::create_directories(m.output_dir);
      stdfs::path dst = m.output_dir / (key + r.output.extension().string());
      std::error_code ec;
      stdfs::rename(r.output, dst, ec);
      if (ec) stdfs::copy_file(r.output, dst, stdfs::copy_options::overwrite_existing);
      if (m.as_root) {
        int rc = ::chown(dst.c_str(), 0, 0);
        (void)rc;
      }
      ::chmod(dst.c_str(), 0644);
      r.output = dst;
    }
    return r;
  } catch (const std::exception& e) {
    r.output.clear();
    return fail(FailureClass::sandbox, std::string("internal error while rendering: ") + e.what());
  }
}

RenderResult Renderer::Impl::run(const RenderJob& job, const std::string& scene, JobDir& jd) {
  RenderResult r;
  r.id = job.id;
  r.scene = scene;

  jd.path = fs::make_temp_dir(job_root, "job-");
  jd.keep = opt.keep_job_dir;
  const stdfs::path dir = jd.path;
  ::chmod(dir.c_str(), 0700);
  fs::atomic_write(dir / "scene.py", job.code);
  fs::atomic_write(dir / "manim.cfg", kManimCfg);
  const stdfs::path tex_dir = dir / "media" / "Tex";
  stdfs::create_directories(tex_dir);
  if (opt.use_tex_cache) prepare_tex(tex_dir);
  if (as_root) chown_tree(dir, opt.sandbox_uid, opt.sandbox_gid);

  const double cpu = opt.cpu_seconds > 0 ? opt.cpu_seconds : opt.timeout_s + 30;
  const auto env = job_env(sandboxed ? kSandboxJobDir : dir.string());

  proc::Spec s;
  s.timeout_s = opt.timeout_s;
  s.limits.address_space = static_cast<int64_t>(opt.memory_bytes);
  s.limits.cpu_seconds = static_cast<int64_t>(std::ceil(cpu));
  s.limits.file_size = static_cast<int64_t>(opt.max_file_bytes);
  s.limits.core_size = 0;
  s.capture_limit = 2u << 20;
  if (as_root) s.uid = opt.sandbox_uid, s.gid = opt.sandbox_gid;
  const auto manim = manim_args(scene);
  if (sandboxed) {
    detail::SandboxView view;
    view.python = python;
    view.tex_cache = tex_cache;
    view.work_dir = dir;
    view.tmp_bytes = kSandboxTmpBytes;
    view.env = env;
    s.argv = detail::sandbox_argv(bwrap, view);
    // RLIMIT_NPROC set inside the sandbox's user namespace counts only that sandbox's processes;
    // set on bwrap it would be shared by every concurrent job of the same uid.
    if (!prlimit.empty())
      s.argv.insert(s.argv.end(), {prlimit, "--nproc=" + std::to_string(opt.max_processes), "--"});
    else
      s.limits.processes = opt.max_processes;
    s.argv.insert(s.argv.end(), manim.begin(), manim.end());
    s.env = {"PATH=/usr/bin:/bin"};
  } else {
    s.argv = manim;
    for (const auto& [k, v] : env) s.env.push_back(k + "=" + v);
    s.cwd = dir.string();
    s.limits.processes = opt.max_processes;
  }

  // Manim 0.19 prints the traceback of an exception raised while frames are being written and
  // then hangs (a non-daemon writer thread): stop it once the traceback is out and all is quiet.
  s.stall_s = opt.stall_s;
  s.stop_when_stalled = [](const std::string&, const std::string& err_tail) {
    // rich's boxed traceback ends with "╯" before the exception line; a plain one has its header
    // (a boxed one is often longer than the 8 KiB tail, so its header is not always there).
    bool traceback = err_tail.find("\u256f") != std::string::npos ||
                     err_tail.find("Traceback (most recent call last)") != std::string::npos;
    return traceback && !exception_line(err_tail).empty();
  };
  // The disk quota, checked while the job runs: its directory (HOME included) may not grow past
  // disk_bytes of allocated blocks or max_files entries.
  s.watch_interval_s = 0.1;
  s.watch = [&]() -> std::string {
    const auto u = detail::disk_usage(dir, opt.disk_bytes, opt.max_files);
    if (u.bytes > opt.disk_bytes) return "The job wrote more than its disk quota of " + human_bytes(opt.disk_bytes);
    if (u.entries > opt.max_files)
      return "The job created more than " + std::to_string(opt.max_files) + " files (its disk quota)";
    return {};
  };
  proc::Result pr = proc::run(s);
  if (pr.stalled) {  // classified from its traceback, like a process that exited with status 1
    pr.signal = 0;
    pr.exit_code = 1;
    spdlog::debug("render {}: stopped {} s after its traceback (Manim hangs after some errors)", job.id, opt.stall_s);
  }
  r.stdout_text = detail::sanitize_utf8(pr.out);
  r.stderr_text = detail::sanitize_utf8(pr.err);
  r.duration_s = pr.duration_s;
  r.timed_out = pr.timed_out;
  r.exit_code = pr.exit_code;
  r.signal = pr.signal;
  // bwrap reports a child killed by signal N as exit status 128 + N.
  if (sandboxed && pr.signal == 0 && pr.exit_code > 128 && pr.exit_code <= 128 + 64) {
    r.signal = pr.exit_code - 128;
    r.exit_code = -1;
  }
  classify(r, pr, dir);
  if (r.failure == FailureClass::disk) jd.keep = false;  // removed whatever keep_job_dir says
  if (r.success && opt.use_tex_cache) cache_new_tex(tex_dir);
  return r;
}

void Renderer::Impl::classify(RenderResult& r, const proc::Result& pr, const stdfs::path& dir) const {
  auto set = [&](FailureClass c, std::string line) {
    r.success = c == FailureClass::none;
    r.failure = c;
    r.error_line = std::move(line);
  };
  const std::string& out = r.stdout_text;
  const std::string& err = r.stderr_text;
  if (!pr.started()) return set(FailureClass::sandbox, "Could not start the renderer: " + pr.spawn_error);
  if (sandboxed && pr.exit_code == 1 && err.rfind("bwrap: ", 0) == 0)
    return set(FailureClass::sandbox, "The sandbox (bubblewrap) failed: " + first_line(err));
  if (!pr.watch_reason.empty())
    return set(FailureClass::disk, pr.watch_reason + "; write less (no large files or file loops)");
  if (r.timed_out)
    return set(FailureClass::timeout, "Rendering exceeded the " + seconds_str(opt.timeout_s) +
                                          " s time limit; avoid infinite loops and very long self.wait() or run_time values");
  if (r.signal == SIGXCPU)
    return set(FailureClass::timeout, "Rendering exceeded the CPU time limit; avoid infinite loops and very long "
                                      "self.wait() or run_time values");
  if (r.signal == SIGXFSZ)
    return set(FailureClass::killed, "An output file exceeded the " + human_bytes(opt.max_file_bytes) +
                                         " size limit; render shorter scenes at lower quality");
  if (r.signal == SIGKILL)
    return set(FailureClass::killed, "The renderer was killed (SIGKILL), most likely by the kernel's out-of-memory "
                                     "killer; use fewer or smaller objects");
  if (r.signal != 0) return set(FailureClass::killed, "The renderer died of " + signal_name(r.signal));

  if (r.exit_code == 0) {
    if (out.find("There are no scenes inside that module") != std::string::npos)
      return set(FailureClass::no_scene, "Manim found no Scene subclass in the code");
    const stdfs::path media = dir / "media";
    std::error_code ec;
    const stdfs::path videos = media / "videos" / "scene";
    if (stdfs::is_directory(videos, ec) && no_symlinks_below(dir, videos)) {
      for (const auto& q : stdfs::directory_iterator(videos, ec)) {
        stdfs::path mp4 = q.path() / "out.mp4";
        struct stat st;
        if (::lstat(mp4.c_str(), &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0 && no_symlinks_below(dir, mp4)) {
          r.output = mp4;
          r.still = false;
          return set(FailureClass::none, "");
        }
      }
    }
    const stdfs::path png = media / "images" / "scene" / "out.png";
    struct stat st;
    if (::lstat(png.c_str(), &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0 && no_symlinks_below(dir, png)) {
      r.output = png;
      r.still = true;
      return set(FailureClass::none, "");
    }
    return set(FailureClass::no_output,
               "Manim exited without writing a video or an image; construct() must run to the end (no sys.exit) "
               "and the class must be a Scene");
  }

  const std::string ex = exception_line(err);
  if (out.find("LaTeX compilation error") != std::string::npos ||
      err.find("error converting to dvi") != std::string::npos ||
      err.find("error converting to xdv") != std::string::npos ||
      err.find("error converting to pdf") != std::string::npos ||
      err.find("failed but did not produce a log file") != std::string::npos) {
    std::string line = ex;
    auto ctx = detail::latex_context(out, 1);
    if (!ctx.empty()) line = ctx.front();
    return set(FailureClass::latex, line.empty() ? "LaTeX compilation failed" : line);
  }
  const std::string type = detail::exception_type(ex);
  if (type.empty() && out.find("is not in the script") != std::string::npos)
    return set(FailureClass::no_scene, "Manim could not find the requested scene in the code");
  if (type == "SyntaxError" || type == "IndentationError" || type == "TabError") return set(FailureClass::syntax, ex);
  if (type == "ImportError" || type == "ModuleNotFoundError") return set(FailureClass::import, ex);
  if (type == "NameError" || type == "UnboundLocalError") return set(FailureClass::name, ex);
  if (type == "AttributeError") return set(FailureClass::attribute, ex);
  if (type == "TypeError") return set(FailureClass::type, ex);
  if ((type.size() >= 11 && type.compare(type.size() - 11, 11, "MemoryError") == 0) ||
      ex.find("Cannot allocate memory") != std::string::npos)
    return set(FailureClass::memory, "Rendering ran out of memory (limit " + human_bytes(opt.memory_bytes) +
                                         "); avoid huge arrays and very many objects");
  if (ex.find("[Errno 27]") != std::string::npos)
    return set(FailureClass::killed, "An output file exceeded the " + human_bytes(opt.max_file_bytes) +
                                         " size limit; render shorter scenes at lower quality");
  if (type == "ValueError") return set(FailureClass::value, ex);
  if (!type.empty()) return set(FailureClass::runtime, ex);
  std::string last = feedback_tail(err.empty() ? out : err, 1);
  return set(FailureClass::runtime, "Manim exited with status " + std::to_string(r.exit_code) +
                                        (last.empty() ? std::string() : ": " + last));
}

}  // namespace mtk::render
