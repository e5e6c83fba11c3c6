// Real renders with the real Manim in the sandbox: failure classes, sandbox limits, feedback.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <random>

#include <sys/stat.h>

#include <cstring>
#include <fstream>
#include <memory>
#include <thread>

#include "../../src/render/internal.hpp"
#include "helpers.hpp"
#include "mtk/build_info.hpp"
#include "mtk/core/error.hpp"
#include "mtk/core/hash.hpp"
#include "mtk/render/cache.hpp"
#include "mtk/render/pool.hpp"
#include "mtk/render/render.hpp"

using namespace mtk::render;
namespace stdfs = std::filesystem;

namespace {

std::string scene(const std::string& body, const std::string& imports = "") {
  return "from manim import *\n" + imports + "\nclass A(Scene):\n    def construct(self):\n" + body;
}

// A normal render must still work after an abusive one, and nothing may be left running.
void expect_healthy(Renderer& r) {
  CHECK(mtk::render::test::no_sandbox_processes_left());
  auto ok = r.render({mtk::render::test::kStillScene, "", "healthy"});
  INFO(ok.error_line << "\n" << ok.stderr_text);
  CHECK(ok.success);
  CHECK(mtk::render::test::no_sandbox_processes_left());
}

std::string random_tag() {
  std::random_device rd;
  return std::to_string(rd()) + std::to_string(::getpid());
}

// Directories of this machine that exist and that the tests may write into: the checkout, the
// build directory, our HOME.
stdfs::path source_dir() { return stdfs::path(mtk::build::kSourceDir); }
stdfs::path build_dir() { return stdfs::read_symlink("/proc/self/exe").parent_path(); }
stdfs::path home_dir() {
  const char* h = std::getenv("HOME");
  return h && *h ? stdfs::path(h) : stdfs::path("/nonexistent-home");
}

// A file planted by the test (removed at scope exit), with its parent directories.
struct Planted {
  stdfs::path path;
  std::string content;
  std::vector<stdfs::path> made_dirs;
  Planted(const stdfs::path& p, std::string text, stdfs::perms mode) : path(p), content(std::move(text)) {
    std::vector<stdfs::path> missing;
    for (stdfs::path d = p.parent_path(); !d.empty() && !stdfs::exists(d); d = d.parent_path()) missing.push_back(d);
    for (auto it = missing.rbegin(); it != missing.rend(); ++it) {
      std::error_code ec;
      if (stdfs::create_directory(*it, ec)) made_dirs.insert(made_dirs.begin(), *it);
    }
    std::ofstream(p) << content;
    std::error_code ec;
    stdfs::permissions(p, mode, ec);
  }
  bool exists() const { return stdfs::exists(path); }
  ~Planted() {
    std::error_code ec;
    stdfs::remove(path, ec);
    for (const auto& d : made_dirs) stdfs::remove(d, ec);
  }
};

// Secrets that the test set-up planted for us (tests/render/run_unprivileged.sh): the files
// named in $MTK_PLANTED_SECRETS (colon-separated); each file's content is the secret.
std::vector<stdfs::path> planted_by_setup() {
  std::vector<stdfs::path> out;
  const char* v = std::getenv("MTK_PLANTED_SECRETS");
  if (!v) return out;
  std::string all = v;
  for (size_t start = 0; start <= all.size();) {
    size_t end = all.find(':', start);
    if (end == std::string::npos) end = all.size();
    if (end > start) out.emplace_back(all.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

std::string py_str(const std::string& s) {  // a Python string literal for a path we made
  std::string out = "'";
  for (char c : s) {
    if (c == '\\' || c == '\'') out += '\\';
    out += c;
  }
  return out + "'";
}

}  // namespace

TEST_CASE("render: the environment is usable", "[integration][render][sandbox]") {
  Renderer r(test::test_options());
  REQUIRE_NOTHROW(r.check_environment());
  CHECK(r.sandboxed());
  CHECK(manim_version(mtk::fs::manim_python()) == "0.19.0");
}

TEST_CASE("render: successes write an mp4 or a still png outside the job dir", "[integration][render][sandbox]") {
  Renderer r(test::test_options());
  auto m = r.render({test::kMovieScene, "", "movie"});
  INFO(m.stderr_text);
  REQUIRE(m.success);
  CHECK(m.failure == FailureClass::none);
  CHECK(m.scene == "Movie");
  CHECK(m.id == "movie");
  CHECK(!m.still);
  CHECK(m.output.extension() == ".mp4");
  CHECK(stdfs::file_size(m.output) > 1000);
  CHECK(m.exit_code == 0);
  CHECK(!m.cached);
  CHECK(m.output.string().find(r.job_root().string()) == std::string::npos);

  auto s = r.render({test::kStillScene, "Still", "still"});
  REQUIRE(s.success);
  CHECK(s.still);
  CHECK(s.output.extension() == ".png");
  // Job directories are removed.
  CHECK(stdfs::is_empty(r.job_root()));
  CHECK(test::no_sandbox_processes_left());
}

TEST_CASE("render: failure classes from real renders", "[integration][render]") {
  RenderPool pool(test::test_options(), nullptr, 2);
  struct Case {
    std::string code, scene;
    FailureClass expected;
    std::string needle;  // expected in the error line
  };
  std::vector<Case> cases = {
      {"from manim import *\nclass A(Scene):\n    def construct(self)\n        pass\n", "", FailureClass::syntax, "SyntaxError"},
      {"from manim import *\nclass A(Scene):\n    def construct(self):\n  pass\n", "", FailureClass::syntax, "IndentationError"},
      {scene("        pass\n", "import not_a_module_mtk\n"), "", FailureClass::import, "not_a_module_mtk"},
      {scene("        self.play(Create(Sqaure()))\n"), "", FailureClass::name, "NameError: name 'Sqaure'"},
      {scene("        Square().shfit(UP)\n"), "", FailureClass::attribute, "AttributeError"},
      {scene("        len(5)\n"), "", FailureClass::type, "TypeError"},
      {scene("        int('abc')\n"), "", FailureClass::value, "ValueError"},
      {scene("        [1][5]\n"), "", FailureClass::runtime, "IndexError"},
      {scene("        1 / 0\n"), "", FailureClass::runtime, "ZeroDivisionError"},
      // Raised while frames are written: Manim 0.19 prints the traceback, then hangs; the stall
      // watchdog ends it and it is classified by its exception, not as a timeout.
      {scene("        s = Square()\n        def upd(m, dt):\n            if m.get_center()[0] > 0.5:\n"
             "                raise ZeroDivisionError('mid-animation')\n        s.add_updater(upd)\n"
             "        self.add(s)\n        self.play(s.animate.shift(RIGHT * 2))\n"),
       "", FailureClass::runtime, "ZeroDivisionError: mid-animation"},
      {scene("        {}['k']\n"), "", FailureClass::runtime, "KeyError"},
      {scene("        self.play(Write(MathTex(r\"\\undefinedmacro\")))\n"), "", FailureClass::latex, "Undefined control sequence"},
      {scene("        x = bytearray(8 * 2**30)\n"), "", FailureClass::memory, "out of memory"},
      {scene("        import os, signal\n        os.kill(os.getpid(), signal.SIGKILL)\n"), "", FailureClass::killed, "SIGKILL"},
      {scene("        import ctypes\n        ctypes.string_at(0)\n"), "", FailureClass::killed, "signal 11"},
      {scene("        sys.exit(0)\n", "import sys\n"), "", FailureClass::no_output, "without writing"},
      {"from manim import *\nx = 1\n", "", FailureClass::no_scene, "No Scene"},
      {test::kStillScene, "Missing", FailureClass::no_scene, "scenes found: Still"},
      {test::kStillScene, "--help", FailureClass::no_scene, "Invalid scene name"},
      // Statically a scene, but not at run time: Manim itself reports no scene.
      {"from manim import *\nFakeScene = object\nclass A(FakeScene):\n    def construct(self):\n        pass\n", "",
       FailureClass::no_scene, "no Scene"},
      {"", "", FailureClass::no_scene, "No Scene"},
  };
  std::vector<RenderJob> jobs;
  for (size_t i = 0; i < cases.size(); ++i) {
    jobs.push_back({cases[i].code, cases[i].scene, "case" + std::to_string(i)});
    jobs.push_back({test::kStillScene, "", "healthy" + std::to_string(i)});
  }
  auto results = pool.render_all(jobs);
  REQUIRE(results.size() == jobs.size());
  for (size_t i = 0; i < cases.size(); ++i) {
    const auto& r = results[2 * i];
    INFO("case " << i << ": " << cases[i].code << "\nerror_line: " << r.error_line << "\nstdout:\n"
                 << r.stdout_text << "\nstderr:\n" << r.stderr_text << "\nclean:\n" << feedback_clean(r, cases[i].code));
    CHECK(r.id == "case" + std::to_string(i));
    CHECK(!r.success);
    CHECK(to_string(r.failure) == to_string(cases[i].expected));
    CHECK(r.error_line.find(cases[i].needle) != std::string::npos);
    CHECK(r.output.empty());
    CHECK(!feedback_clean(r, cases[i].code).empty());
    CHECK(!feedback_tail(r).empty());
    CHECK(results[2 * i + 1].success);
  }
  CHECK(test::no_sandbox_processes_left());

  // Feedback for a LaTeX error carries the context that Manim logs on stdout.
  size_t latex_case = 0;
  while (latex_case < cases.size() && cases[latex_case].expected != FailureClass::latex) ++latex_case;
  REQUIRE(latex_case < cases.size());
  const auto& latex = results[2 * latex_case];
  auto clean = feedback_clean(latex);
  CHECK(clean.find("Undefined control sequence") != std::string::npos);
  CHECK(clean.find("\\undefinedmacro") != std::string::npos);
  CHECK(clean.find("File \"scene.py\", line 5, in construct") != std::string::npos);
  CHECK(clean.find("\u2502") == std::string::npos);
  CHECK(clean.find("site-packages") == std::string::npos);
  // The paper's tail is the last 10 lines of stderr.
  CHECK(feedback_tail(results[2 * 3]) == feedback_tail(results[2 * 3].stderr_text, 10));
  CHECK(feedback_tail(results[2 * 3]).find("NameError") != std::string::npos);
}

TEST_CASE("sandbox: no network, no writes outside the job dir, no secrets in the environment", "[integration][render][sandbox]") {
  // A listening socket in this process: only the sandbox can make a connection fail.
  int ls = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(ls >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(ls, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  REQUIRE(::listen(ls, 4) == 0);
  socklen_t len = sizeof addr;
  ::getsockname(ls, reinterpret_cast<sockaddr*>(&addr), &len);
  const int port = ntohs(addr.sin_port);

  const std::string tag = random_tag();
  // Paths that exist on every machine the test runs on: the checkout, the build directory, HOME
  // (ours when not root), and a directory anyone may write to (so only the sandbox can stop it).
  const stdfs::path escape_src = source_dir() / ("escape-" + tag + ".txt");
  const stdfs::path escape_build = build_dir() / ("escape-" + tag + ".txt");
  const stdfs::path escape_home = home_dir() / ("escape-" + tag + ".txt");
  const stdfs::path escape_tmp = "/tmp/escape-" + tag + ".txt";
  const stdfs::path escape_var = test::scratch_root() / ("escape-" + tag + ".txt");
  const stdfs::path writable_var = test::scratch_root() / ("open-" + tag);
  stdfs::create_directories(writable_var);
  stdfs::permissions(writable_var, stdfs::perms::all);
  const stdfs::path escape_open = writable_var / "escape.txt";
  ::setenv("MTK_TEST_SECRET", "xyz-secret-value", 1);

  Renderer r(test::test_options());
  const std::string code = scene(
      "        import socket, os\n"
      "        try:\n"
      "            socket.create_connection(('127.0.0.1', " + std::to_string(port) + "), timeout=3).close()\n"
      "            print('NET:CONNECTED')\n"
      "        except OSError as e:\n"
      "            print('NET:BLOCKED', e)\n"
      "        for p in [" + py_str(escape_src) + ", " + py_str(escape_build) + ", " + py_str(escape_home) + ", " +
      py_str(escape_tmp) + ", " + py_str(escape_var) + ", " + py_str(escape_open) + "]:\n"
      "            try:\n"
      "                open(p, 'w').write('escaped')\n"
      "                print('WRITE:OK', p)\n"
      "            except OSError as e:\n"
      "                print('WRITE:BLOCKED', p, e)\n"
      "        print('ENV:', dict(os.environ))\n"
      "        print('JOBS:', os.path.exists(" + py_str((test::scratch_root() / "jobs").string()) + "))\n"
      "        print('UID:', os.getuid())\n"
      "        print('CAPS:', [l.split()[1] for l in open('/proc/self/status') if l.startswith('CapEff')])\n"
      "        self.add(Circle())\n");
  auto res = r.render({code, "", "sandbox"});
  INFO(res.stdout_text << res.stderr_text);
  REQUIRE(res.success);
  CHECK(res.stdout_text.find("NET:BLOCKED") != std::string::npos);
  CHECK(res.stdout_text.find("NET:CONNECTED") == std::string::npos);
  sockaddr_in peer{};
  socklen_t plen = sizeof peer;
  ::fcntl(ls, F_SETFL, O_NONBLOCK);
  CHECK(::accept(ls, reinterpret_cast<sockaddr*>(&peer), &plen) < 0);
  ::close(ls);
  for (const auto& p : {escape_src, escape_build, escape_home, escape_var, escape_open}) {
    INFO(p);
    CHECK(!stdfs::exists(p));  // nothing reached the host
    // Refused outright, except under /tmp (a checkout there, say), where the write lands in the
    // sandbox's private /tmp and is gone with it.
    if (p.string().rfind("/tmp/", 0) != 0) CHECK(res.stdout_text.find("WRITE:BLOCKED " + p.string()) != std::string::npos);
  }
  CHECK(!stdfs::exists(escape_tmp));  // the sandbox's /tmp is private
  stdfs::remove_all(writable_var);
  CHECK(res.stdout_text.find("ENV:") != std::string::npos);
  CHECK(res.stdout_text.find("xyz-secret-value") == std::string::npos);
  CHECK(res.stdout_text.find("MTK_TEST_SECRET") == std::string::npos);
  CHECK(res.stdout_text.find("JOBS: False") != std::string::npos);  // other jobs are out of sight
  // As root the job runs as the sandbox uid; as anyone else, as that user (mapped to itself in its
  // user namespace); in both cases with no capabilities.
  const int expected_uid = ::geteuid() == 0 ? test::test_uid() : static_cast<int>(::geteuid());
  CHECK(res.stdout_text.find("UID: " + std::to_string(expected_uid) + "\n") != std::string::npos);
  CHECK(res.stdout_text.find("CAPS: ['0000000000000000']") != std::string::npos);
  expect_healthy(r);
}

TEST_CASE("sandbox: time, memory and process bombs are contained", "[integration][render][sandbox][slow]") {
  auto opts = test::test_options(8);
  RenderPool pool(opts, nullptr, 2);
  std::vector<RenderJob> jobs = {
      {scene("        while True:\n            pass\n"), "", "loop"},
      {scene("        self.wait(1e6)\n"), "", "wait"},
      {scene("        x = bytearray(8 * 2**30)\n"), "", "alloc"},
      {scene("        import os\n        while True:\n            try:\n                os.fork()\n"
             "            except OSError:\n                pass\n"),
       "", "forkbomb"},
  };
  auto res = pool.render_all(jobs);
  for (const auto& r : res) {
    INFO(r.id << ": " << r.error_line << "\n" << r.stderr_text.substr(0, 2000));
    CHECK(!r.success);
    CHECK(r.duration_s < opts.timeout_s + 5);
  }
  CHECK(res[0].failure == FailureClass::timeout);
  CHECK(res[0].timed_out);
  CHECK(res[0].duration_s >= opts.timeout_s - 0.5);
  CHECK(res[1].failure == FailureClass::timeout);
  CHECK(res[2].failure == FailureClass::memory);
  CHECK(res[2].duration_s < 6);
  CHECK(res[3].failure == FailureClass::timeout);
  CHECK(feedback_clean(res[0]).find("8 s time limit") != std::string::npos);
  CHECK(test::no_sandbox_processes_left());
  Renderer& r = pool.renderer();
  expect_healthy(r);
}

TEST_CASE("sandbox: output size limit", "[integration][render][sandbox]") {
  auto opts = test::test_options();
  opts.max_file_bytes = 1 << 20;
  Renderer r(opts);
  auto res = r.render({scene("        open('big.bin', 'wb').write(b'0' * (4 << 20))\n"), "", "big"});
  INFO(res.stderr_text);
  CHECK(res.failure == FailureClass::killed);
  CHECK(res.error_line.find("size limit") != std::string::npos);
  expect_healthy(r);
}

TEST_CASE("render: missing sandbox or Python fails with class sandbox and a fix", "[integration][render]") {
  auto opts = test::test_options();
  opts.python = "/nonexistent/python";
  Renderer r(opts);
  auto res = r.render({test::kStillScene, "", "x"});
  CHECK(res.failure == FailureClass::sandbox);
  CHECK(res.error_line.find("fix:") != std::string::npos);
  CHECK_THROWS_AS(r.check_environment(), mtk::Error);
  // Static checks still come first.
  CHECK(r.render({"x = 1\n", "", "y"}).failure == FailureClass::no_scene);
  RenderOptions bad;
  bad.quality = "z";
  CHECK_THROWS_AS(Renderer(bad), mtk::Error);
}

TEST_CASE("render: without bubblewrap, fail with a fix unless allow_unsandboxed", "[integration][render][sandbox]") {
  auto opts = test::test_options(6);
  opts.bwrap = "/nonexistent/bwrap";
  Renderer strict(opts);
  auto res = strict.render({test::kStillScene, "", "x"});
  CHECK(res.failure == FailureClass::sandbox);
  CHECK(res.error_line.find("apt-get install bubblewrap") != std::string::npos);
  CHECK(res.error_line.find("allow_unsandboxed") != std::string::npos);
  CHECK_THROWS_AS(strict.check_environment(), mtk::Error);

  opts.allow_unsandboxed = true;
  ::setenv("MTK_TEST_SECRET", "xyz-secret-value", 1);
  Renderer loose(opts);
  CHECK_NOTHROW(loose.check_environment());
  CHECK(!loose.sandboxed());
  auto ok = loose.render({scene("        import os\n        print('ENV:', dict(os.environ), os.getuid())\n"
                                "        self.play(FadeIn(Dot()), run_time=0.3)\n"),
                          "", "direct"});
  INFO(ok.stderr_text);
  CHECK(ok.success);
  CHECK(ok.stdout_text.find("xyz-secret-value") == std::string::npos);
  CHECK(ok.stdout_text.find(" " + std::to_string(::geteuid() == 0 ? test::test_uid() : static_cast<int>(::geteuid())) + "\n") !=
        std::string::npos);
  auto loop = loose.render({scene("        while True:\n            pass\n"), "", "loop"});
  CHECK(loop.failure == FailureClass::timeout);
  CHECK(loop.duration_s < 10);
  CHECK(test::no_sandbox_processes_left());
}

TEST_CASE("render: default directories fall back to /var/tmp when the cache root is private", "[unit][render]") {
  if (::geteuid() != 0) return;
  const char* old = std::getenv("MTK_CACHE_DIR");
  std::string saved = old ? old : "";
  ::setenv("MTK_CACHE_DIR", "/root/.cache/mtk-render-test-unreachable", 1);
  {
    Renderer r;
    CHECK(r.job_root() == "/var/tmp/manim-toolkit-0/jobs");
    CHECK(r.tex_cache() == "/var/tmp/manim-toolkit-0/tex");
  }
  ::setenv("MTK_CACHE_DIR", test::scratch_root().c_str(), 1);
  {
    Renderer r;
    CHECK(r.job_root() == test::scratch_root() / "jobs");
  }
  // An explicit directory the sandbox user cannot reach is an environment error naming the fix.
  RenderOptions o = test::test_options();
  o.job_root = "/root/.cache/mtk-render-test-unreachable/jobs";
  Renderer bad(o);
  auto res = bad.render({test::kStillScene, "", "x"});
  CHECK(res.failure == FailureClass::sandbox);
  CHECK(res.error_line.find("not reachable") != std::string::npos);
  if (old) ::setenv("MTK_CACHE_DIR", saved.c_str(), 1);
  else ::unsetenv("MTK_CACHE_DIR");
}

// What the job printed for "LIST: <dir> <listing>", the listing alone ("" when not printed).
static std::string listing(const std::string& out, const std::string& dir) {
  const std::string head = "LIST: " + dir + " ";
  auto pos = out.find(head);
  if (pos == std::string::npos) return {};
  pos += head.size();
  return out.substr(pos, out.find('\n', pos) - pos);
}

TEST_CASE("sandbox: the user's files are out of sight", "[integration][render][sandbox]") {
  // Secrets planted by this test where a researcher keeps them, readable by the sandbox's uid
  // outside the sandbox wherever we can make them so: only the sandbox's view can hide them.
  const std::string tag = random_tag();
  const auto world = stdfs::perms::owner_read | stdfs::perms::owner_write | stdfs::perms::group_read |
                     stdfs::perms::others_read;
  std::vector<std::unique_ptr<Planted>> secrets;
  auto plant = [&](const stdfs::path& p) {
    auto s = std::make_unique<Planted>(p, "mtk-secret-" + tag + "-" + std::to_string(secrets.size()), world);
    if (s->exists()) secrets.push_back(std::move(s));
  };
  plant(home_dir() / ".ssh" / ("mtk_test_key_" + tag));
  plant(home_dir() / ".cache" / "huggingface" / ("mtk_token_" + tag));
  plant(source_dir() / ("mtk-secret-" + tag + ".env"));
  plant(build_dir() / ("mtk-secret-" + tag + ".txt"));
  plant(test::scratch_root() / ("mtk-secret-" + tag + ".txt"));  // under /var/tmp
  // The scratch directory is searchable by anyone and the file world-readable: on a sandbox that
  // showed the host's /var, this one would be read.
  REQUIRE(secrets.size() >= 2);
  std::vector<stdfs::path> paths;
  for (const auto& s : secrets) paths.push_back(s->path);
  for (const auto& p : planted_by_setup()) {
    std::ifstream in(p);
    REQUIRE(in.good());  // the set-up's secrets are ours to read outside the sandbox
    paths.push_back(p);
  }

  std::string list;
  for (const auto& p : paths) list += py_str(p.string()) + ", ";
  const std::string code = scene(
      "        import os\n"
      "        for p in [" + list + "]:\n"
      "            try:\n"
      "                print('READ:OK', p, open(p).read())\n"
      "            except OSError as e:\n"
      "                print('READ:BLOCKED', p, type(e).__name__)\n"
      "        for d in ['/home', '/root', '/srv', '/mnt', '/media', '/run', '/var', '/etc', '/', " +
      py_str(source_dir().string()) + ", " + py_str(build_dir().string()) + ", " + py_str(home_dir().string()) + "]:\n"
      "            try:\n"
      "                print('LIST:', d, sorted(os.listdir(d)))\n"
      "            except OSError as e:\n"
      "                print('LIST:', d, 'missing')\n"
      "        self.add(Circle())\n");
  Renderer r(test::test_options());
  auto res = r.render({code, "", "secrets"});
  INFO(res.stdout_text << res.stderr_text);
  REQUIRE(res.success);
  const std::string all = res.stdout_text + res.stderr_text;
  for (const auto& p : paths) {
    INFO(p);
    CHECK(res.stdout_text.find("READ:BLOCKED " + p.string() + " FileNotFoundError") != std::string::npos);
    CHECK(all.find(mtk::fs::read_file(p)) == std::string::npos);
  }
  for (const char* d : {"/home", "/root", "/srv", "/mnt", "/media", "/run"}) {
    INFO(d);
    CHECK(res.stdout_text.find(std::string("LIST: ") + d + " missing") != std::string::npos);
  }
  // /var shows TeX's formats and fontconfig's cache (lib/texmf, cache/fontconfig), nothing else.
  std::string var = listing(res.stdout_text, "/var");
  for (const char* ok : {"'cache'", "'lib'", ", "}) {
    for (size_t p; (p = var.find(ok)) != std::string::npos;) var.erase(p, std::strlen(ok));
  }
  CHECK(var == "[]");
  CHECK(res.stdout_text.find("LIST: " + build_dir().string() + " missing") != std::string::npos);
  // The project tree shows the venv alone (when the venv lives in it), HOME is the job's own.
  const std::string src_listing = listing(res.stdout_text, source_dir().string());
  CHECK((src_listing == "missing" || src_listing == "['.venv']"));
  if (mtk::fs::manim_python().string().rfind(home_dir().string() + "/", 0) != 0)
    CHECK(res.stdout_text.find("LIST: " + home_dir().string() + " missing") != std::string::npos);
  // /etc holds only what the linker, fonts, TeX and the locale read: no passwd, shadow or ssh.
  const std::string etc = listing(res.stdout_text, "/etc");
  REQUIRE(etc.rfind("[", 0) == 0);
  for (const char* f : {"'passwd'", "'shadow'", "'ssh'", "'hostname'", "'machine-id'"}) CHECK(etc.find(f) == std::string::npos);
}

TEST_CASE("sandbox: a job cannot change what another job's formulas look like", "[integration][render][sandbox]") {
  const std::string tag = random_tag();
  auto opts = test::test_options(60);
  opts.tex_cache = test::scratch_root() / ("tex-" + tag);
  const std::string formula = "x^{" + tag + "} + y";
  // Job 1 typesets the formula honestly, then replaces the SVG beside the honest .tex with a
  // forgery, and succeeds: before the fix the cache took both files.
  const std::string forge = scene(
      "        import glob, os\n"
      "        m = MathTex(r'" + formula + "')\n"
      "        for f in glob.glob('media/Tex/*.svg'):\n"
      "            if not os.path.islink(f):\n"
      "                open(f, 'w').write(\"<?xml version='1.0'?><svg xmlns='http://www.w3.org/2000/svg' width='40' "
      "height='40' viewBox='0 0 40 40'><!-- MTK-FORGED --><path d='M0 0 L40 0 L40 40 Z'/></svg>\")\n"
      "                print('FORGED', f)\n"
      "        self.add(m)\n");
  Renderer r(opts);
  auto first = r.render({forge, "", "forge"});
  INFO(first.stdout_text << first.stderr_text);
  REQUIRE(first.success);
  REQUIRE(first.stdout_text.find("FORGED") != std::string::npos);
  // Job 2 typesets the same formula: it must get the toolkit's own SVG from the cache.
  const std::string victim = scene(
      "        import glob\n"
      "        svgs = glob.glob('media/Tex/*.svg')\n"
      "        print('POISONED' if any('MTK-FORGED' in open(f).read() for f in svgs) else 'CLEAN', len(svgs))\n"
      "        m = MathTex(r'" + formula + "')\n"
      "        print('WIDTH', round(m.width, 3))\n"
      "        self.add(m)\n");
  auto second = r.render({victim, "", "victim"});
  INFO(second.stdout_text << second.stderr_text);
  REQUIRE(second.success);
  CHECK(second.stdout_text.find("CLEAN 1") != std::string::npos);  // the formula came from the cache
  CHECK(second.stdout_text.find("POISONED") == std::string::npos);
  size_t svgs = 0;
  for (const auto& e : stdfs::directory_iterator(opts.tex_cache)) {
    if (e.path().extension() != ".svg") continue;
    ++svgs;
    CHECK(mtk::fs::read_file(e.path()).find("MTK-FORGED") == std::string::npos);
  }
  CHECK(svgs == 1);

  // The toolkit's TeX step makes the very SVG Manim makes for itself (same bytes).
  auto uncached = opts;
  uncached.use_tex_cache = false;
  Renderer plain(uncached);
  const std::string other = "\\frac{a_" + tag + "}{b}";
  auto own = plain.render({scene("        import glob, hashlib\n        m = MathTex(r'" + other + "')\n"
                                 "        for f in glob.glob('media/Tex/*.svg'):\n"
                                 "            print('SVG', f.split('/')[-1], hashlib.sha256(open(f, 'rb').read()).hexdigest())\n"
                                 "        self.add(m)\n"),
                           "", "own"});
  INFO(own.stdout_text << own.stderr_text);
  REQUIRE(own.success);
  auto at = own.stdout_text.find("SVG ");
  REQUIRE(at != std::string::npos);
  const std::string name = own.stdout_text.substr(at + 4, 20), digest = own.stdout_text.substr(at + 25, 64);
  auto cached = r.render({scene("        self.add(MathTex(r'" + other + "'))\n"), "", "cached"});
  REQUIRE(cached.success);
  REQUIRE(stdfs::exists(opts.tex_cache / name));
  CHECK(mtk::sha256_hex(mtk::fs::read_file(opts.tex_cache / name)) == digest);
  stdfs::remove_all(opts.tex_cache);
}

TEST_CASE("sandbox: a disk quota per job, enforced while it runs", "[integration][render][sandbox]") {
  auto opts = test::test_options(60);
  opts.disk_bytes = 64ull << 20;
  opts.max_files = 2000;
  Renderer r(opts);
  // Three files of 40 MiB, each under the file-size limit: only the quota stops them.
  auto big = r.render({scene("        for i in range(3):\n"
                             "            with open(f'blob{i}.bin', 'wb') as f:\n"
                             "                for _ in range(40):\n"
                             "                    f.write(os.urandom(1 << 20))\n"
                             "        import time\n        time.sleep(30)\n",
                             "import os\n"),
                       "", "big"});
  INFO(big.error_line << "\n" << big.stderr_text);
  CHECK(big.failure == FailureClass::disk);
  CHECK(big.error_line.find("disk quota of 64 MiB") != std::string::npos);
  CHECK(big.duration_s < 20);  // killed while running, not at the end of its sleep
  CHECK(!feedback_clean(big).empty());
  // Many small files in HOME (the job directory) count too.
  auto many = r.render({scene("        import os, time\n"
                              "        d = os.path.join(os.environ['HOME'], 'many')\n"
                              "        os.makedirs(d)\n"
                              "        for i in range(5000):\n"
                              "            open(os.path.join(d, str(i)), 'w').close()\n"
                              "        time.sleep(30)\n"),
                        "", "many"});
  INFO(many.error_line);
  CHECK(many.failure == FailureClass::disk);
  CHECK(many.error_line.find("more than 2000 files") != std::string::npos);
  // The job directory is removed either way, even one the job locked up.
  auto locked = r.render({scene("        import os\n        os.makedirs('a/b')\n        open('a/b/f', 'w').write('x')\n"
                                "        os.chmod('a/b', 0)\n        os.chmod('a', 0)\n        self.add(Circle())\n"),
                          "", "locked"});
  INFO(locked.stderr_text);
  CHECK(locked.success);
  CHECK(stdfs::is_empty(r.job_root()));
  CHECK(test::no_sandbox_processes_left());
  CHECK(to_string(FailureClass::disk) == "disk");
  CHECK(!RenderCache::cacheable(big));  // depends on the configured quota
  expect_healthy(r);
}

TEST_CASE("sandbox: a running job's processes are found, and none outlive it", "[integration][render][sandbox]") {
  // The check the other sandbox tests rely on, shown able to fail: it sees a job while it runs.
  Renderer r(test::test_options(30));
  RenderResult res;
  std::thread t([&] {
    res = r.render({scene("        import time, subprocess\n"
                          "        subprocess.Popen(['sleep', '30'])\n        time.sleep(4)\n        self.add(Circle())\n"),
                    "", "sleeper"});
  });
  bool seen = false;
  const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (!seen && std::chrono::steady_clock::now() < end) {
    seen = test::sandbox_processes().find("sleep 30") != std::string::npos;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  t.join();
  INFO(res.stderr_text);
  CHECK(seen);
  CHECK(res.success);
  CHECK(test::no_sandbox_processes_left());  // the orphaned `sleep 30` went with the job
}

TEST_CASE("sandbox: the private /tmp goes under what may live in the host's /tmp", "[unit][render]") {
  // A checkout (and so its venv), the LaTeX cache or a job directory under the host's /tmp must
  // stay visible: the private /tmp is mounted before them (CI clones under /tmp found this).
  mtk::render::detail::SandboxView v;
  v.python = "/tmp/clone/.venv/bin/python";
  v.tex_cache = "/tmp/cache/tex";
  v.work_dir = "/tmp/jobs/job-1";
  const auto a = mtk::render::detail::sandbox_argv("bwrap", v);
  auto at = [&](const std::string& flag, const std::string& arg) {
    for (size_t i = 0; i + 1 < a.size(); ++i)
      if (a[i] == flag && a[i + 1] == arg) return i;
    return a.size();
  };
  const size_t tmpfs = at("--tmpfs", "/tmp");
  REQUIRE(tmpfs < a.size());
  CHECK(at("--ro-bind", "/tmp/clone/.venv") > tmpfs);
  CHECK(at("--ro-bind", "/tmp/cache/tex") > tmpfs);
  CHECK(at("--bind", "/tmp/jobs/job-1") > tmpfs);
  CHECK(at("--ro-bind", "/tmp/clone/.venv") < a.size());
  CHECK(a.back() == "--");
}
