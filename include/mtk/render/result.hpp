#pragma once
// The outcome of one render: success or a failure class, the output file, the captured streams.
#include <filesystem>
#include <string>
#include <string_view>

#include <nlohmann/json_fwd.hpp>

namespace mtk::render {

enum class FailureClass {
  none,       // success
  syntax,     // SyntaxError, IndentationError, TabError
  import,     // ImportError, ModuleNotFoundError
  name,       // NameError, UnboundLocalError
  attribute,  // AttributeError
  type,       // TypeError
  value,      // ValueError (LaTeX errors are `latex`)
  runtime,    // any other Python exception (IndexError, KeyError, ZeroDivisionError, ...)
  latex,      // LaTeX compilation failed
  timeout,    // wall-clock or CPU time limit reached
  memory,     // MemoryError or an allocation failure under the memory limit
  killed,     // ended by a signal that is not our timeout (OOM killer, SIGSEGV, ...) or by the
              // output-size limit
  no_scene,   // no Scene subclass in the code, or the requested scene does not exist
  no_output,  // Manim exited without writing the video or still image
  sandbox,    // the render environment failed: bwrap/namespaces unavailable, Python/Manim missing
  disk,       // the job directory went over its disk quota (bytes or files) while the job ran
};

std::string_view to_string(FailureClass c);
// Inverse of to_string; throws mtk::Error for an unknown name.
FailureClass failure_from_string(std::string_view s);
// Failures that depend only on the code (and Manim's version), so a cache may keep them.
bool is_deterministic(FailureClass c);

struct RenderResult {
  std::string id;  // the job's id
  bool success = false;
  FailureClass failure = FailureClass::none;
  std::string scene;              // the scene that was (or would have been) rendered
  std::filesystem::path output;   // the mp4, or the png when `still`; empty on failure
  bool still = false;             // the scene never animated: Manim wrote one PNG
  std::string stdout_text, stderr_text;  // valid UTF-8 (invalid bytes replaced by U+FFFD)
  int exit_code = -1;  // Manim's exit status; -1 when it did not run or died of a signal
  int signal = 0;      // terminating signal inside the sandbox, 0 if none
  bool timed_out = false;
  double duration_s = 0;  // of the render itself (a cache hit keeps the original figure)
  bool cached = false;    // served from the render cache
  std::string error_line;  // the exception line, or a one-line reason
};

void to_json(nlohmann::json& j, const RenderResult& r);
void from_json(const nlohmann::json& j, RenderResult& r);

}  // namespace mtk::render
