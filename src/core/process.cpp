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

namespace {

// The child's stdout/stderr pipes, the exec-status pipe (closed by a successful exec, else it
// carries errno and the failed step) and /dev/null for stdin; ours to close.
struct ChildPipes {
  int out[2] = {-1, -1}, err[2] = {-1, -1}, exec[2] = {-1, -1};
  int devnull = -1;
  void close_all() {
    for (int* fd : {&out[0], &out[1], &err[0], &err[1], &exec[0], &exec[1], &devnull}) close_fd(*fd);
  }
};

ChildPipes open_pipes() {
  ChildPipes p;
  for (int* pair : {p.out, p.err, p.exec}) {
    if (::pipe2(pair, O_CLOEXEC) != 0) {
      const int e = errno;
      p.close_all();
      throw Error(std::string("pipe failed: ") + std::strerror(e), "raise the open-file limit");
    }
  }
  p.devnull = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  p.out[1] = dup_high_cloexec(p.out[1]);
  p.err[1] = dup_high_cloexec(p.err[1]);
  p.exec[1] = dup_high_cloexec(p.exec[1]);
  if (p.devnull >= 0) p.devnull = dup_high_cloexec(p.devnull);
  return p;
}

// In the forked child: signals, session, standard streams, limits, credentials, descriptors,
// then exec. Only async-signal-safe calls; never returns.
[[noreturn]] void exec_child(const Spec& spec, const std::string& program, char* const* argv, char* const* envp,
                             const ChildPipes& p, const std::vector<int>& keep, long open_max, pid_t parent) {
  const int ef = p.exec[1];
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  struct sigaction sa;
  std::memset(&sa, 0, sizeof sa);
  sa.sa_handler = SIG_DFL;
  for (int s = 1; s < NSIG; ++s)
    if (s != SIGKILL && s != SIGSTOP) ::sigaction(s, &sa, nullptr);
  if (spec.new_session ? ::setsid() < 0 : ::setpgid(0, 0) < 0) child_fail(ef, "setsid");
  if (p.devnull < 0 || ::dup2(p.devnull, 0) < 0) child_fail(ef, "stdin from /dev/null");
  if (::dup2(p.out[1], 1) < 0 || ::dup2(p.err[1], 2) < 0) child_fail(ef, "dup2");
  set_limit(RLIMIT_AS, spec.limits.address_space);
  set_limit(RLIMIT_CPU, spec.limits.cpu_seconds);
  set_limit(RLIMIT_FSIZE, spec.limits.file_size);
  set_limit(RLIMIT_NPROC, spec.limits.processes);
  set_limit(RLIMIT_CORE, spec.limits.core_size);
  if (spec.uid >= 0 || spec.gid >= 0) {
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
  ::execve(program.c_str(), argv, envp);
  child_fail(ef, "exec");
}

// What the exec-status pipe says: "" after a successful exec, else the failed step and errno.
std::string read_exec_status(int fd, const std::string& program) {
  char buf[256];
  size_t got = 0;
  for (;;) {
    ssize_t n = ::read(fd, buf + got, sizeof buf - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += static_cast<size_t>(n);
    if (got == sizeof buf) break;
  }
  if (got < sizeof(int)) return {};
  int e;
  std::memcpy(&e, buf, sizeof e);
  return std::string(buf + sizeof e, got - sizeof e) + " failed for " + program + ": " + std::strerror(e);
}

// The parent's side of a running child: reads both streams, enforces the wall clock, the stall
// check and the watch, and kills the whole process group at the end.
class Supervisor {
 public:
  Supervisor(const Spec& spec, pid_t pid, int out_fd, int err_fd, Clock::time_point t0)
      : spec_(spec), pid_(pid), t0_(t0), cap_out_(spec.capture_limit), cap_err_(spec.capture_limit) {
    fds_[0] = out_fd;
    fds_[1] = err_fd;
    pidfd_ = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  }

  // Until the child (the group leader) exits, then whatever output is still coming for 2 s.
  void run(Result& res) {
    watch_until_exit(res);
    // The leader is a zombie now, so its pid (= the group id) cannot be reused while we kill.
    kill_group();
    const auto grace_end = Clock::now() + std::chrono::seconds(2);
    while ((fds_[0] >= 0 || fds_[1] >= 0) && Clock::now() < grace_end) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(grace_end - Clock::now()).count();
      pump(static_cast<int>(std::max<long long>(left, 1)));
    }
    close_fd(fds_[0]);
    close_fd(fds_[1]);
    close_fd(pidfd_);
    res.out_truncated = cap_out_.truncated();
    res.err_truncated = cap_err_.truncated();
    res.out = cap_out_.take();
    res.err = cap_err_.take();
  }

 private:
  void watch_until_exit(Result& res) {
    const bool has_deadline = spec_.timeout_s > 0;
    const bool watch_stall = spec_.stall_s > 0 && static_cast<bool>(spec_.stop_when_stalled);
    const bool watching = spec_.watch_interval_s > 0 && static_cast<bool>(spec_.watch);
    const auto deadline = t0_ + to_duration(spec_.timeout_s);
    const auto watch_every = to_duration(spec_.watch_interval_s);
    auto next_watch = t0_ + watch_every;
    bool killed = false;  // by us: the timeout, the stall check or the watch
    while (!leader_exited()) {
      int wait_ms = -1;
      auto shorten = [&](long long ms) { wait_ms = wait_ms < 0 ? static_cast<int>(ms) : std::min(wait_ms, static_cast<int>(ms)); };
      if (watching && !killed) {
        const auto now = Clock::now();
        if (now >= next_watch) {
          res.watch_reason = spec_.watch();
          next_watch = Clock::now() + watch_every;
          if (!res.watch_reason.empty()) {
            kill_group();
            killed = true;
            continue;
          }
        }
        shorten(std::chrono::duration_cast<std::chrono::milliseconds>(next_watch - now).count() + 1);
      }
      if (has_deadline && !killed) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
        if (left <= 0) {
          kill_group();
          res.timed_out = killed = true;
          continue;
        }
        shorten(std::min<long long>(left + 1, 1 << 30));
      }
      if (pidfd_ < 0) shorten(20);
      if (watch_stall && !killed) {
        double quiet = std::chrono::duration<double>(Clock::now() - last_output_).count();
        if (quiet >= spec_.stall_s && spec_.stop_when_stalled(cap_out_.last(8192), cap_err_.last(8192))) {
          kill_group();
          res.stalled = killed = true;
          continue;
        }
        shorten(static_cast<int>(std::max(0.0, spec_.stall_s - quiet) * 1000) + 50);
      }
      pump(wait_ms);
    }
  }

  static Clock::duration to_duration(double s) {
    return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s));
  }

  // Waits up to wait_ms (-1: until something happens) for output or the child's exit; reads what
  // is there.
  void pump(int wait_ms) {
    struct pollfd p[3];
    int idx[3];
    int n = 0;
    for (int i = 0; i < 2; ++i)
      if (fds_[i] >= 0) p[n] = {fds_[i], POLLIN, 0}, idx[n++] = i;
    if (pidfd_ >= 0 && wait_ms != 0) p[n] = {pidfd_, POLLIN, 0}, idx[n++] = -1;
    if (n == 0) {
      if (wait_ms > 0) ::usleep(static_cast<useconds_t>(wait_ms) * 1000);
      return;
    }
    int r = ::poll(p, static_cast<nfds_t>(n), wait_ms);
    if (r <= 0) return;
    Capture* caps[2] = {&cap_out_, &cap_err_};
    for (int j = 0; j < n; ++j) {
      if (idx[j] < 0 || !(p[j].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      int i = idx[j];
      ssize_t k = ::read(fds_[i], buf_, sizeof buf_);
      if (k > 0) {
        caps[i]->add(buf_, static_cast<size_t>(k));
        last_output_ = Clock::now();
      } else if (k == 0 || (errno != EINTR && errno != EAGAIN)) {
        close_fd(fds_[i]);
      }
    }
  }

  bool leader_exited() const {
    siginfo_t info;
    std::memset(&info, 0, sizeof info);
    return ::waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info.si_pid != 0;
  }

  void kill_group() const {
    ::kill(-pid_, SIGKILL);
    ::kill(pid_, SIGKILL);  // in case it had not reached setsid yet
  }

  const Spec& spec_;
  const pid_t pid_;
  const Clock::time_point t0_;
  int fds_[2];
  int pidfd_ = -1;
  Capture cap_out_, cap_err_;
  Clock::time_point last_output_ = Clock::now();
  char buf_[65536];
};

// Reaps the child and records how it ended.
void reap(pid_t pid, Result& res, Clock::time_point t0) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  res.duration_s = std::chrono::duration<double>(Clock::now() - t0).count();
  if (WIFEXITED(status)) res.exit_code = WEXITSTATUS(status);
  else if (WIFSIGNALED(status)) res.signal = WTERMSIG(status);
}

}  // namespace

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
  // Everything the child needs is prepared before fork: it may only make async-signal-safe calls.
  std::vector<char*> argv, envp;
  for (const auto& a : spec.argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  for (const auto& e : spec.env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);
  ChildPipes p = open_pipes();
  std::vector<int> keep = spec.keep_fds;
  keep.push_back(p.exec[1]);
  std::sort(keep.begin(), keep.end());
  keep.erase(std::unique(keep.begin(), keep.end()), keep.end());
  const long open_max = std::max<long>(::sysconf(_SC_OPEN_MAX), 1024);
  const pid_t parent = ::getpid();

  const auto t0 = Clock::now();
  const pid_t pid = ::fork();
  if (pid < 0) {
    const int e = errno;
    p.close_all();
    throw Error(std::string("fork failed: ") + std::strerror(e), "check the process limit and free memory");
  }
  if (pid == 0) exec_child(spec, program, argv.data(), envp.data(), p, keep, open_max, parent);

  close_fd(p.out[1]);
  close_fd(p.err[1]);
  close_fd(p.exec[1]);
  close_fd(p.devnull);
  res.spawn_error = read_exec_status(p.exec[0], program);
  close_fd(p.exec[0]);
  if (!res.spawn_error.empty()) {
    close_fd(p.out[0]);
    close_fd(p.err[0]);
    reap(pid, res, t0);
    res.exit_code = -1;
    res.signal = 0;
    return res;
  }
  Supervisor(spec, pid, p.out[0], p.err[0], t0).run(res);
  reap(pid, res, t0);
  return res;
}

}  // namespace mtk::proc
