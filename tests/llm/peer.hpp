#pragma once
// Shared helpers for the llm tests that compare against a Python peer (gguf, tokenizers, jinja2,
// llama-cpp-python, transformers fixtures): locate models and the project's Python, run a peer
// script and capture its output, and fail with the fix when a model or package is missing.
#include <catch2/catch.hpp>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <unistd.h>

#include "mtk/core/fs.hpp"

namespace mtk::test {

namespace stdfs = std::filesystem;

// Single-quotes `s` for /bin/sh.
inline std::string quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// The project's Python (.venv), which has the peer packages after scripts/setup.sh --test.
inline std::string python() { return mtk::fs::manim_python().string(); }

// Runs `cmd` through /bin/sh; returns its stdout and sets *status to pclose's status.
inline std::string run_capture(const std::string& cmd, int* status) {
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) {
    *status = -1;
    return {};
  }
  std::string out;
  char buf[65536];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  *status = ::pclose(p);
  return out;
}

// Runs `cmd` and FAILs the test (showing the output) unless it exits 0.
inline std::string run_checked(const std::string& cmd) {
  int st = 0;
  std::string out = run_capture(cmd, &st);
  if (st != 0) FAIL("peer command failed (status " << st << "): " << cmd << "\n" << out);
  return out;
}

// The build directory (the running test binary's), where the programs are.
inline stdfs::path build_dir() { return stdfs::read_symlink("/proc/self/exe").parent_path(); }

// A file under models/; FAILs with the fetch command when it is missing.
inline stdfs::path model_path(const std::string& file, const std::string& fetch_name) {
  const stdfs::path p = mtk::fs::project_root() / "models" / file;
  if (!stdfs::exists(p))
    FAIL("model file " << p << " is missing (fix: scripts/fetch_models.sh " << fetch_name << ")");
  return p;
}
inline stdfs::path smollm2_path() { return model_path("SmolLM2-135M-Instruct.Q4_1.gguf", "smollm2"); }
inline stdfs::path gemma3_path() { return model_path("gemma-3-270m-q4_k_m.gguf", "gemma3"); }

inline stdfs::path manimbench_path() {
  const stdfs::path p = mtk::fs::project_root() / "data" / "manimbench" / "manimbench.jsonl";
  if (!stdfs::exists(p)) FAIL(p << " is missing (fix: scripts/setup.sh --test, with ../shared/manimbench beside)");
  return p;
}

// A peer script in tests/llm/.
inline stdfs::path peer_script(const std::string& name) {
  return mtk::fs::project_root() / "tests" / "llm" / name;
}

// FAILs with the fix unless `python -c "import <modules>"` works (modules: "gguf, jinja2").
inline void require_python_modules(const std::string& modules) {
  int st = 0;
  const std::string out = run_capture(quote(python()) + " -c " + quote("import " + modules) + " 2>&1", &st);
  if (st != 0)
    FAIL("the Python packages (" << modules << ") are not importable with " << python() << ": " << out
                                 << "(fix: scripts/setup.sh --test)");
}

// Runs tests/llm/<script> with `args` (already quoted as needed), `input` as JSON on stdin, and
// returns its stdout parsed as JSON; FAILs (showing the command and output) unless it exits 0.
inline nlohmann::json run_peer_json(const std::string& script, const std::string& args, const nlohmann::json& input) {
  const stdfs::path dir = mtk::fs::make_temp_dir(stdfs::temp_directory_path(), "mtk-peer-");
  const stdfs::path in = dir / "input.json";
  mtk::fs::atomic_write(in, input.dump());
  const std::string cmd =
      quote(python()) + " " + quote(peer_script(script).string()) + " " + args + " < " + quote(in.string());
  int st = 0;
  const std::string out = run_capture(cmd, &st);
  std::error_code ec;
  stdfs::remove_all(dir, ec);
  if (st != 0) FAIL("peer command failed (status " << st << "): " << cmd << "\n" << out);
  return nlohmann::json::parse(out);
}

// Writes `text` to a fresh file in the temp dir and returns its path.
inline stdfs::path write_temp(const std::string& name, const std::string& text) {
  const stdfs::path p = stdfs::temp_directory_path() / ("mtk-test-" + std::to_string(::getpid()) + "-" + name);
  std::ofstream(p, std::ios::binary) << text;
  return p;
}

}  // namespace mtk::test
