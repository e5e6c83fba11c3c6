#pragma once
// Runs tests/python/ssim_reference.py (the paper's computation in Python) on a batch of jobs.
// Missing venv or packages -> the calling test fails with the fix (scripts/setup.sh --test).
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <fstream>
#include <string>
#include <vector>

#include "../video/manim_fixture.hpp"
#include "mtk/core/fs.hpp"

namespace mtk::testing {

// A scratch directory removed when the test program exits.
inline std::filesystem::path metrics_scratch_dir() {
  static const ScratchDir d("mtk-test-metrics-");
  return d.path;
}

// Runs the jobs split over `procs` Python processes in parallel; returns one result per job.
inline nlohmann::json run_python_peer(const nlohmann::json& jobs, int procs = 1, const std::string& extra = "") {
  try {
    require_python_peers();
  } catch (const std::exception& e) {
    FAIL(e.what());
  }
  const auto dir = mtk::fs::make_temp_dir(metrics_scratch_dir(), "peer-");
  procs = std::max(1, std::min<int>(procs, static_cast<int>(jobs.size())));
  std::vector<nlohmann::json> parts(procs, nlohmann::json::array());
  for (size_t k = 0; k < jobs.size(); ++k) parts[k % procs].push_back(jobs[k]);
  std::string cmd;
  for (int p = 0; p < procs; ++p) {
    const auto in = dir / ("jobs" + std::to_string(p) + ".json");
    std::ofstream(in) << parts[p].dump();
    cmd += shell_quote(venv_python().string()) + " " +
           shell_quote((python_tests_dir() / "ssim_reference.py").string()) + " " + extra + " --batch " +
           shell_quote(in.string()) + " > " + shell_quote((dir / ("out" + std::to_string(p) + ".json")).string()) +
           " & ";
  }
  cmd += "wait";
  const auto r = run_command(cmd);
  INFO("python peer: " << r.output);
  nlohmann::json out = nlohmann::json::array();
  std::vector<nlohmann::json> res(procs);
  for (int p = 0; p < procs; ++p) {
    const auto text = mtk::fs::read_file(dir / ("out" + std::to_string(p) + ".json"));
    INFO("python peer output: " << text.substr(0, 2000) << "\n" << r.output);
    REQUIRE_FALSE(text.empty());
    res[p] = nlohmann::json::parse(text);
  }
  std::vector<size_t> pos(procs, 0);
  for (size_t k = 0; k < jobs.size(); ++k) out.push_back(res[k % procs][pos[k % procs]++]);
  return out;
}

}  // namespace mtk::testing
