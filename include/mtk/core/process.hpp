#pragma once
// Running a child program without a shell: explicit argv and environment, stdin from /dev/null,
// stdout/stderr captured through pipes (read with poll, so a chatty child cannot deadlock),
// resource limits, its own session/process group, optional uid/gid drop, and a wall-clock timeout
// that SIGKILLs the whole process group.
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace mtk::proc {

// Resource limits applied in the child before exec (soft = hard). -1 leaves the inherited limit.
struct Limits {
  int64_t address_space = -1;  // RLIMIT_AS, bytes
  int64_t cpu_seconds = -1;    // RLIMIT_CPU: SIGXCPU when reached
  int64_t file_size = -1;      // RLIMIT_FSIZE, bytes: SIGXFSZ / EFBIG beyond it
  int64_t processes = -1;      // RLIMIT_NPROC: counted per real uid (ignored for root)
  int64_t core_size = -1;      // RLIMIT_CORE, bytes (0 = no core dumps)
};

struct Spec {
  // argv[0] is the program: a path, or a bare name looked up in the PATH of `env`
  // (or /usr/bin:/bin when env has no PATH).
  std::vector<std::string> argv;
  // The complete environment of the child, "KEY=VALUE". Nothing is inherited.
  std::vector<std::string> env;
  std::string cwd;  // empty: the parent's working directory
  Limits limits;
  double timeout_s = 0;  // wall clock; 0 = none
  // Credentials to switch to before exec (needs root); -1 keeps the current ones. Supplementary
  // groups are cleared when either is set.
  int uid = -1;
  int gid = -1;
  bool new_session = true;  // setsid(); otherwise only a new process group
  // Descriptors the child keeps under the same numbers; every other fd above 2 is closed.
  std::vector<int> keep_fds;
  // Per stream. Beyond it the first quarter and the last three quarters are kept with a
  // "[... N bytes omitted ...]" marker between them.
  size_t capture_limit = 4u << 20;
  // Early stop for a child that printed a fatal error but does not exit: after `stall_s`
  // seconds without output, `stop_when_stalled(last 8 KiB of stdout, of stderr)` is asked, and
  // `true` kills the process group (Result::stalled). 0 or no predicate: never.
  double stall_s = 0;
  std::function<bool(const std::string& out_tail, const std::string& err_tail)> stop_when_stalled;
  // A supervisor asked every `watch_interval_s` seconds while the child runs (a disk quota, say):
  // a non-empty answer kills the process group and is kept in Result::watch_reason. 0 or no
  // function: never.
  double watch_interval_s = 0;
  std::function<std::string()> watch;
};

struct Result {
  int exit_code = -1;  // exit status when the child exited; -1 when it died of a signal
  int signal = 0;      // the terminating signal, 0 when it exited
  bool timed_out = false;  // we killed it at the wall-clock limit (signal is then SIGKILL)
  bool stalled = false;    // we killed it because stop_when_stalled said so
  std::string watch_reason;  // non-empty: we killed it because Spec::watch said so
  double duration_s = 0;   // from fork to reaping
  std::string out, err;
  bool out_truncated = false, err_truncated = false;
  // Non-empty when the program never ran (not found, exec or set-up failure in the child).
  std::string spawn_error;
  bool started() const { return spawn_error.empty(); }
};

// Runs the child to completion. When the child exits (or is killed at the timeout), whatever is
// left in its process group is SIGKILLed too. Thread-safe; throws mtk::Error only when the
// parent cannot create pipes or fork.
Result run(const Spec& spec);

// Looks `name` up in a colon-separated PATH; returns "" when not found. A name with a '/' is
// returned as is when it is executable.
std::string find_executable(const std::string& name, const std::string& path_var = "/usr/bin:/bin");

}  // namespace mtk::proc
