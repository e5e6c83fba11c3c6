#pragma once
// A server process for the agent tests: started with fork/exec in its own process group, its
// first stdout line read (the port it listens on), killed with its group when the object dies.
#include <catch2/catch.hpp>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <fcntl.h>
#include <poll.h>
#include <string>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

namespace mtk::test {

class BackgroundProcess {
 public:
  // Starts argv; waits up to `timeout_s` for a stdout line containing `marker` and returns. When
  // the marker does not come, the process group is killed (its children would otherwise keep the
  // test's output pipe open) and the test fails, or with `fail = false` started() is false.
  BackgroundProcess(const std::vector<std::string>& argv, const std::string& marker, double timeout_s = 120,
                    bool fail = true) {
    int fds[2];
    REQUIRE(::pipe(fds) == 0);
    pid_ = ::fork();
    REQUIRE(pid_ >= 0);
    if (pid_ == 0) {
      ::setpgid(0, 0);
      ::dup2(fds[1], 1);
      ::close(fds[0]);
      ::close(fds[1]);
      std::vector<char*> args;
      for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
      args.push_back(nullptr);
      ::execvp(args[0], args.data());
      std::_Exit(127);
    }
    ::setpgid(pid_, pid_);
    ::close(fds[1]);
    fd_ = fds[0];
    std::string buf;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
    while (std::chrono::steady_clock::now() < deadline) {
      pollfd p{fd_, POLLIN, 0};
      int r = ::poll(&p, 1, 100);
      if (r > 0) {
        char c[4096];
        ssize_t n = ::read(fd_, c, sizeof c);
        if (n <= 0) break;
        buf.append(c, size_t(n));
        size_t at = buf.find(marker);
        if (at != std::string::npos && buf.find('\n', at) != std::string::npos) {
          line_ = buf.substr(at, buf.find('\n', at) - at);
          started_ = true;
          return;
        }
      }
    }
    stop();
    if (fail) FAIL("server " << argv[0] << " did not print '" << marker << "' within " << timeout_s << " s; output: " << buf);
    WARN("server " << argv[0] << " did not print '" << marker << "' within " << timeout_s << " s; output: " << buf);
  }
  ~BackgroundProcess() { stop(); }
  bool started() const { return started_; }
  const std::string& line() const { return line_; }
  // The integer after `marker` in the line ("PORT 4242", "http://127.0.0.1:4242/v1").
  int port_after(const std::string& marker) const {
    size_t at = line_.find(marker);
    return at == std::string::npos ? -1 : std::atoi(line_.c_str() + at + marker.size());
  }

 private:
  void stop() {
    if (pid_ > 0) {
      ::kill(-pid_, SIGKILL);
      int st;
      ::waitpid(pid_, &st, 0);
      pid_ = -1;
    }
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

  pid_t pid_ = -1;
  int fd_ = -1;
  bool started_ = false;
  std::string line_;
};

}  // namespace mtk::test
