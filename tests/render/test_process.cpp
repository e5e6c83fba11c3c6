#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <thread>

#include "mtk/core/process.hpp"

using namespace mtk;

namespace {

bool pid_gone(pid_t pid, double wait_s = 3) {
  const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(wait_s);
  while (std::chrono::steady_clock::now() < end) {
    if (::kill(pid, 0) != 0 && errno == ESRCH) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

proc::Spec sh(const std::string& script) {
  proc::Spec s;
  s.argv = {"/bin/sh", "-c", script};
  s.env = {"PATH=/usr/bin:/bin"};
  return s;
}

}  // namespace

TEST_CASE("process: exit status and both streams are captured", "[unit][process]") {
  auto r = proc::run(sh("echo out; echo err >&2; exit 3"));
  REQUIRE(r.started());
  CHECK(r.exit_code == 3);
  CHECK(r.signal == 0);
  CHECK(!r.timed_out);
  CHECK(r.out == "out\n");
  CHECK(r.err == "err\n");
  CHECK(r.duration_s > 0);
}

TEST_CASE("process: the environment is exactly the one given and stdin is /dev/null", "[unit][process]") {
  ::setenv("MTK_PROCESS_TEST_SECRET", "xyz", 1);
  proc::Spec s;
  s.argv = {"/usr/bin/env"};
  s.env = {"A=1", "B=two words"};
  auto r = proc::run(s);
  CHECK(r.out == "A=1\nB=two words\n");
  auto c = proc::run(sh("cat; echo done"));
  CHECK(c.out == "done\n");
}

TEST_CASE("process: the timeout kills the whole process group", "[unit][process]") {
  auto s = sh("sleep 100 & echo $!; sleep 100; wait");
  s.timeout_s = 0.5;
  auto r = proc::run(s);
  CHECK(r.timed_out);
  CHECK(r.signal == SIGKILL);
  CHECK(r.exit_code == -1);
  CHECK(r.duration_s < 3.5);
  pid_t bg = std::atoi(r.out.c_str());
  REQUIRE(bg > 0);
  CHECK(pid_gone(bg));
}

TEST_CASE("process: background children are killed when the child exits", "[unit][process]") {
  auto r = proc::run(sh("sleep 100 >/dev/null 2>&1 & echo $!"));
  CHECK(r.exit_code == 0);
  CHECK(r.duration_s < 3);
  pid_t bg = std::atoi(r.out.c_str());
  REQUIRE(bg > 0);
  CHECK(pid_gone(bg));
}

TEST_CASE("process: large output on both streams neither deadlocks nor grows without bound", "[unit][process]") {
  auto s = sh("head -c 3000000 /dev/zero | tr '\\0' e >&2 & head -c 3000000 /dev/zero | tr '\\0' o; wait");
  s.capture_limit = 1 << 20;
  s.timeout_s = 20;
  auto r = proc::run(s);
  CHECK(!r.timed_out);
  CHECK(r.exit_code == 0);
  CHECK(r.out_truncated);
  CHECK(r.err_truncated);
  CHECK(r.out.size() < (1 << 20) + 100);
  CHECK(r.out.find("bytes omitted") != std::string::npos);
  CHECK(r.err.substr(0, 10) == "eeeeeeeeee");
  auto small = proc::run(sh("printf abc"));
  CHECK(!small.out_truncated);
  CHECK(small.out == "abc");
}

TEST_CASE("process: other descriptors are closed unless kept", "[unit][process]") {
  int leaked = ::open("/dev/null", O_RDONLY);  // no O_CLOEXEC on purpose
  int kept = ::open("/dev/null", O_RDONLY);
  REQUIRE(leaked > 2);
  auto s = sh("ls /proc/$$/fd");
  s.keep_fds = {kept};
  auto r = proc::run(s);
  ::close(leaked);
  ::close(kept);
  auto has = [&](int fd) { return ("\n" + r.out).find("\n" + std::to_string(fd) + "\n") != std::string::npos; };
  CHECK(has(0));
  CHECK(has(2));
  CHECK(!has(leaked));
  CHECK(has(kept));
}

TEST_CASE("process: rlimits, new session and the uid drop apply in the child", "[unit][process]") {
  proc::Spec s;
  s.argv = {"/bin/cat", "/proc/self/limits"};
  s.limits.address_space = 1ll << 31;
  s.limits.cpu_seconds = 7;
  s.limits.file_size = 123 << 20;
  s.limits.core_size = 0;
  auto r = proc::run(s);
  CHECK(r.out.find("Max cpu time              7                    7") != std::string::npos);
  CHECK(r.out.find("Max address space         2147483648") != std::string::npos);
  CHECK(r.out.find("Max file size             128974848") != std::string::npos);

  proc::Spec t;
  t.argv = {"/usr/bin/awk", "{ print ($1 == $5 && $5 == $6) ? \"leader\" : \"member\" }", "/proc/self/stat"};
  CHECK(proc::run(t).out == "leader\n");

  if (::geteuid() == 0) {
    proc::Spec u;
    u.argv = {"/usr/bin/id", "-u"};
    u.uid = 65534;
    u.gid = 65534;
    CHECK(proc::run(u).out == "65534\n");
  }
}

TEST_CASE("process: a program that cannot start is reported, not thrown", "[unit][process]") {
  proc::Spec s;
  s.argv = {"/nonexistent/program"};
  CHECK(!proc::run(s).started());
  s.argv = {"no-such-program-mtk"};
  CHECK(proc::run(s).spawn_error.find("not found") != std::string::npos);
  auto c = sh("true");
  c.cwd = "/nonexistent-dir";
  auto r = proc::run(c);
  CHECK(!r.started());
  CHECK(r.spawn_error.find("chdir") != std::string::npos);
  CHECK(!proc::run(proc::Spec{}).started());
  CHECK(proc::find_executable("sh") == "/usr/bin/sh");
}

TEST_CASE("process: concurrent runs from several threads", "[unit][process]") {
  std::vector<std::thread> ts;
  std::vector<std::string> outs(8);
  for (int i = 0; i < 8; ++i)
    ts.emplace_back([i, &outs] { outs[i] = proc::run(sh("echo " + std::to_string(i))).out; });
  for (auto& t : ts) t.join();
  for (int i = 0; i < 8; ++i) CHECK(outs[i] == std::to_string(i) + "\n");
}
