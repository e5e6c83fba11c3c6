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

#include "helpers.hpp"
#include "mtk/core/error.hpp"
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

}  // namespace

TEST_CASE("render: the environment is usable", "[integration][render]") {
  Renderer r(test::test_options());
  REQUIRE_NOTHROW(r.check_environment());
  CHECK(r.sandboxed());
  CHECK(manim_version(mtk::fs::manim_python()) == "0.19.0");
}

TEST_CASE("render: successes write an mp4 or a still png outside the job dir", "[integration][render]") {
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

TEST_CASE("sandbox: no network, no writes outside the job dir, no secrets", "[integration][render][sandbox]") {
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
  const stdfs::path escape_work = "/work/main/escape-" + tag + ".txt";
  const stdfs::path escape_tmp = "/tmp/escape-" + tag + ".txt";
  const stdfs::path escape_var = test::scratch_root() / ("escape-" + tag + ".txt");
  ::setenv("MTK_TEST_SECRET", "xyz-secret-value", 1);

  Renderer r(test::test_options());
  const std::string code = scene(
      "        import socket, os\n"
      "        try:\n"
      "            socket.create_connection(('127.0.0.1', " + std::to_string(port) + "), timeout=3).close()\n"
      "            print('NET:CONNECTED')\n"
      "        except OSError as e:\n"
      "            print('NET:BLOCKED', e)\n"
      "        for p in ['" + escape_work.string() + "', '" + escape_tmp.string() + "', '" + escape_var.string() + "']:\n"
      "            try:\n"
      "                open(p, 'w').write('escaped')\n"
      "                print('WRITE:OK', p)\n"
      "            except OSError as e:\n"
      "                print('WRITE:BLOCKED', p, e)\n"
      "        print('ENV:', dict(os.environ))\n"
      "        print('JOBS:', os.listdir('" + (test::scratch_root() / "jobs").string() + "'))\n"
      "        print('UID:', os.getuid())\n"
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
  CHECK(res.stdout_text.find("WRITE:BLOCKED " + escape_work.string()) != std::string::npos);
  CHECK(res.stdout_text.find("WRITE:BLOCKED " + escape_var.string()) != std::string::npos);
  CHECK(!stdfs::exists(escape_work));
  CHECK(!stdfs::exists(escape_tmp));  // the sandbox's /tmp is private
  CHECK(!stdfs::exists(escape_var));
  CHECK(res.stdout_text.find("ENV:") != std::string::npos);
  CHECK(res.stdout_text.find("xyz-secret-value") == std::string::npos);
  CHECK(res.stdout_text.find("MTK_TEST_SECRET") == std::string::npos);
  CHECK(res.stdout_text.find("JOBS: []") != std::string::npos);  // other jobs are hidden
  if (::geteuid() == 0) CHECK(res.stdout_text.find("UID: " + std::to_string(test::test_uid())) != std::string::npos);
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

TEST_CASE("render: without bubblewrap, fail with a fix unless allow_unsandboxed", "[integration][render]") {
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
  if (::geteuid() == 0) CHECK(ok.stdout_text.find(std::to_string(test::test_uid())) != std::string::npos);
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
