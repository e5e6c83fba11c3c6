#include "mtk/core/process.hpp"

#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>

#include "mtk/core/error.hpp"

namespace mtk::proc {

namespace {

using Clock = std::chrono::steady_clock;

// Keeps the first quarter and the last three quarters of a stream beyond `limit` bytes.
class Capture {
 public:
  explicit Capture(size_t limit) : head_cap_(limit / 4), tail_cap_(limit - limit / 4) {}
  void add(const char* p, size_t n) {
    total_ += n;
    if (head_.size() < head_cap_) {
      size_t k = std::min(n, head_cap_ - head_.size());
      head_.append(p, k);
      p += k;
      n -= k;
    }
    if (n == 0) return;
    tail_.append(p, n);
    if (tail_.size() > 2 * tail_cap_ + 65536) tail_.erase(0, tail_.size() - tail_cap_);
  }
  bool truncated() const { return total_ > head_cap_ + tail_cap_; }
  std::string last(size_t n) const {
    if (tail_.size() >= n) return tail_.substr(tail_.size() - n);
    std::string s = head_.substr(head_.size() - std::min(head_.size(), n - tail_.size()));
    return s + tail_;
  }
  std::string take() {
    if (tail_.size() > tail_cap_) tail_.erase(0, tail_.size() - tail_cap_);
    if (!truncated()) return head_ + tail_;
    size_t omitted = total_ - head_.size() - tail_.size();
    return head_ + "\n[... " + std::to_string(omitted) + " bytes omitted ...]\n" + tail_;
  }

 private:
  size_t head_cap_, tail_cap_;
  size_t total_ = 0;
  std::string head_, tail_;
};

int dup_high_cloexec(int fd) {  // keeps our descriptors clear of 0..2 in the child
  if (fd > 2) return fd;
  int n = ::fcntl(fd, F_DUPFD_CLOEXEC, 3);
  ::close(fd);
  return n;
}

void close_fd(int& fd) {
  if (fd >= 0) ::close(fd);
  fd = -1;
}

void set_limit(int resource, int64_t v) {
  if (v < 0) return;
  struct rlimit rl;
  rl.rlim_cur = rl.rlim_max = static_cast<rlim_t>(v);
  ::setrlimit(resource, &rl);  // best effort: lowering always works; raising may be refused
}

// Only async-signal-safe calls below this point, until exec.
[[noreturn]] void child_fail(int errfd, const char* stage) {
  int e = errno;
  ssize_t r = ::write(errfd, &e, sizeof e);
  r = ::write(errfd, stage, std::strlen(stage));
  (void)r;
  ::_exit(127);
}

void close_other_fds(const std::vector<int>& keep_sorted, long open_max) {
  unsigned lo = 3;
  auto close_range_fallback = [&](unsigned a, unsigned b) {
    if (::syscall(SYS_close_range, a, b, 0) == 0) return;
    long end = std::min<long>(static_cast<long>(b), open_max - 1);
    for (long fd = a; fd <= end; ++fd) ::close(static_cast<int>(fd));
  };
  for (int k : keep_sorted) {
    if (k < 3) continue;
    if (static_cast<unsigned>(k) > lo) close_range_fallback(lo, static_cast<unsigned>(k) - 1);
    lo = static_cast<unsigned>(k) + 1;
  }
  close_range_fallback(lo, ~0U);
}

}  // namespace

std::string find_executable(const std::string& name, const std::string& path_var) {
  auto ok = [](const std::string& p) {
    struct stat st;
    return ::stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(p.c_str(), X_OK) == 0;
  };
  if (name.empty()) return {};
  if (name.find('/') != std::string::npos) return ok(name) ? name : std::string();
  size_t start = 0;
  while (start <= path_var.size()) {
    size_t end = path_var.find(':', start);
    if (end == std::string::npos) end = path_var.size();
    std::string dir = path_var.substr(start, end - start);
    if (!dir.empty()) {
      std::string cand = dir + "/" + name;
      if (ok(cand)) return cand;
    }
    start = end + 1;
  }
  return {};
}

Result run(const Spec& spec) {
  Result res;
  if (spec.argv.empty()) {
    res.spawn_error = "empty argv";
    return res;
  }
  std::string path_var = "/usr/bin:/bin";
  for (const auto& kv : spec.env)
    if (kv.rfind("PATH=", 0) == 0) path_var = kv.substr(5);
  const std::string program = find_executable(spec.argv[0], path_var);
  if (program.empty()) {
    res.spawn_error = "program not found or not executable: " + spec.argv[0];
    return res;
  }

  std::vector<char*> argv, envp;
  for (const auto& a : spec.argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  for (const auto& e : spec.env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);

  int out_p[2], err_p[2], exec_p[2];
  if (::pipe2(out_p, O_CLOEXEC) != 0) throw Error(std::string("pipe failed: ") + std::strerror(errno), "raise the open-file limit");
  if (::pipe2(err_p, O_CLOEXEC) != 0) {
    int e = errno;
    ::close(out_p[0]), ::close(out_p[1]);
    throw Error(std::string("pipe failed: ") + std::strerror(e), "raise the open-file limit");
  }
  if (::pipe2(exec_p, O_CLOEXEC) != 0) {
    int e = errno;
    for (int fd : {out_p[0], out_p[1], err_p[0], err_p[1]}) ::close(fd);
    throw Error(std::string("pipe failed: ") + std::strerror(e), "raise the open-file limit");
  }
  int devnull = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  out_p[1] = dup_high_cloexec(out_p[1]);
  err_p[1] = dup_high_cloexec(err_p[1]);
  exec_p[1] = dup_high_cloexec(exec_p[1]);
  if (devnull >= 0) devnull = dup_high_cloexec(devnull);

  std::vector<int> keep = spec.keep_fds;
  keep.push_back(exec_p[1]);
  std::sort(keep.begin(), keep.end());
  keep.erase(std::unique(keep.begin(), keep.end()), keep.end());
  const long open_max = std::max<long>(::sysconf(_SC_OPEN_MAX), 1024);
  const pid_t parent = ::getpid();
  const bool drop = spec.uid >= 0 || spec.gid >= 0;

  const auto t0 = Clock::now();
  pid_t pid = ::fork();
  if (pid < 0) {
    int e = errno;
    for (int fd : {out_p[0], out_p[1], err_p[0], err_p[1], exec_p[0], exec_p[1], devnull})
      if (fd >= 0) ::close(fd);
    throw Error(std::string("fork failed: ") + std::strerror(e), "check the process limit and free memory");
  }
  if (pid == 0) {
    const int ef = exec_p[1];
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    struct sigaction sa;
    std::memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_DFL;
    for (int s = 1; s < NSIG; ++s)
      if (s != SIGKILL && s != SIGSTOP) ::sigaction(s, &sa, nullptr);
    if (spec.new_session ? ::setsid() < 0 : ::setpgid(0, 0) < 0) child_fail(ef, "setsid");
    if (devnull < 0 || ::dup2(devnull, 0) < 0) child_fail(ef, "stdin from /dev/null");
    if (::dup2(out_p[1], 1) < 0 || ::dup2(err_p[1], 2) < 0) child_fail(ef, "dup2");
    set_limit(RLIMIT_AS, spec.limits.address_space);
    set_limit(RLIMIT_CPU, spec.limits.cpu_seconds);
    set_limit(RLIMIT_FSIZE, spec.limits.file_size);
    set_limit(RLIMIT_NPROC, spec.limits.processes);
    set_limit(RLIMIT_CORE, spec.limits.core_size);
    if (drop) {
      if (::geteuid() == 0 && ::setgroups(0, nullptr) != 0) child_fail(ef, "setgroups");
      if (spec.gid >= 0 && ::setgid(static_cast<gid_t>(spec.gid)) != 0) child_fail(ef, "setgid");
      if (spec.uid >= 0 && ::setuid(static_cast<uid_t>(spec.uid)) != 0) child_fail(ef, "setuid");
    }
    // After the credential change, which clears it.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);
    if (!spec.cwd.empty() && ::chdir(spec.cwd.c_str()) != 0) child_fail(ef, "chdir");
    close_other_fds(keep, open_max);
    for (int k : spec.keep_fds)
      if (k > 2) ::fcntl(k, F_SETFD, 0);
    ::execve(program.c_str(), argv.data(), envp.data());
    child_fail(ef, "exec");
  }

  close_fd(out_p[1]);
  close_fd(err_p[1]);
  close_fd(exec_p[1]);
  close_fd(devnull);

  // The exec pipe closes on a successful exec; otherwise it carries errno and the failed step.
  {
    char buf[256];
    size_t got = 0;
    for (;;) {
      ssize_t n = ::read(exec_p[0], buf + got, sizeof buf - got);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      got += static_cast<size_t>(n);
      if (got == sizeof buf) break;
    }
    close_fd(exec_p[0]);
    if (got >= sizeof(int)) {
      int e;
      std::memcpy(&e, buf, sizeof e);
      res.spawn_error = std::string(buf + sizeof e, got - sizeof e) + " failed for " + program + ": " + std::strerror(e);
      int st;
      while (::waitpid(pid, &st, 0) < 0 && errno == EINTR) {
      }
      close_fd(out_p[0]);
      close_fd(err_p[0]);
      res.duration_s = std::chrono::duration<double>(Clock::now() - t0).count();
      return res;
    }
  }

  int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  Capture cap_out(spec.capture_limit), cap_err(spec.capture_limit);
  int fds[2] = {out_p[0], err_p[0]};
  Capture* caps[2] = {&cap_out, &cap_err};
  char buf[65536];

  auto last_output = Clock::now();
  auto pump = [&](int wait_ms) {
    struct pollfd p[3];
    int idx[3];
    int n = 0;
    for (int i = 0; i < 2; ++i)
      if (fds[i] >= 0) p[n] = {fds[i], POLLIN, 0}, idx[n++] = i;
    if (pidfd >= 0 && wait_ms != 0) p[n] = {pidfd, POLLIN, 0}, idx[n++] = -1;
    if (n == 0) {
      if (wait_ms > 0) ::usleep(static_cast<useconds_t>(wait_ms) * 1000);
      return;
    }
    int r = ::poll(p, static_cast<nfds_t>(n), wait_ms);
    if (r <= 0) return;
    for (int j = 0; j < n; ++j) {
      if (idx[j] < 0 || !(p[j].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      int i = idx[j];
      ssize_t k = ::read(fds[i], buf, sizeof buf);
      if (k > 0) {
        caps[i]->add(buf, static_cast<size_t>(k));
        last_output = Clock::now();
      }
      else if (k == 0 || (errno != EINTR && errno != EAGAIN))
        close_fd(fds[i]);
    }
  };
  auto leader_exited = [&] {
    siginfo_t info;
    std::memset(&info, 0, sizeof info);
    return ::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info.si_pid != 0;
  };
  auto kill_group = [&] {
    ::kill(-pid, SIGKILL);
    ::kill(pid, SIGKILL);  // in case it had not reached setsid yet
  };

  const bool has_deadline = spec.timeout_s > 0;
  const bool watch_stall = spec.stall_s > 0 && static_cast<bool>(spec.stop_when_stalled);
  const bool watching = spec.watch_interval_s > 0 && static_cast<bool>(spec.watch);
  const auto deadline = t0 + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(spec.timeout_s));
  const auto watch_every = std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(spec.watch_interval_s));
  auto next_watch = t0 + watch_every;
  bool killed = false;  // by us: the timeout, the stall check or the watch
  while (!leader_exited()) {
    int wait_ms = -1;
    if (watching && !killed) {
      const auto now = Clock::now();
      if (now >= next_watch) {
        res.watch_reason = spec.watch();
        next_watch = Clock::now() + watch_every;
        if (!res.watch_reason.empty()) {
          kill_group();
          killed = true;
          continue;
        }
      }
      wait_ms = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(next_watch - now).count()) + 1;
    }
    if (has_deadline && !killed) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
      if (left <= 0) {
        kill_group();
        res.timed_out = killed = true;
        continue;
      }
      const int until_deadline = static_cast<int>(std::min<long long>(left + 1, 1 << 30));
      wait_ms = wait_ms < 0 ? until_deadline : std::min(wait_ms, until_deadline);
    }
    if (pidfd < 0) wait_ms = wait_ms < 0 ? 20 : std::min(wait_ms, 20);
    if (watch_stall && !killed) {
      double quiet = std::chrono::duration<double>(Clock::now() - last_output).count();
      if (quiet >= spec.stall_s && spec.stop_when_stalled(cap_out.last(8192), cap_err.last(8192))) {
        kill_group();
        res.stalled = killed = true;
        continue;
      }
      int check_ms = static_cast<int>(std::max(0.0, spec.stall_s - quiet) * 1000) + 50;
      wait_ms = wait_ms < 0 ? check_ms : std::min(wait_ms, check_ms);
    }
    pump(wait_ms);
  }
  // The leader is a zombie now, so its pid (= the group id) cannot be reused while we kill.
  kill_group();
  const auto grace_end = Clock::now() + std::chrono::seconds(2);
  while ((fds[0] >= 0 || fds[1] >= 0) && Clock::now() < grace_end) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(grace_end - Clock::now()).count();
    pump(static_cast<int>(std::max<long long>(left, 1)));
  }
  close_fd(fds[0]);
  close_fd(fds[1]);
  close_fd(pidfd);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  res.duration_s = std::chrono::duration<double>(Clock::now() - t0).count();
  if (WIFEXITED(status)) {
    res.exit_code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    res.signal = WTERMSIG(status);
  }
  res.out_truncated = cap_out.truncated();
  res.err_truncated = cap_err.truncated();
  res.out = cap_out.take();
  res.err = cap_err.take();
  return res;
}

}  // namespace mtk::proc
