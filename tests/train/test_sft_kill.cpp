// `manim-train sft` killed with SIGKILL after a checkpoint and resumed with --resume logs the same
// losses, gradient norms and validation losses as an uninterrupted run, bit for bit, and writes the
// same adapter (real SmolLM2-135M Q4_1 base, real ManimBench examples, CPU).
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <sstream>
#include <thread>

#include <sys/wait.h>
#include <unistd.h>

#include "../llm/peer.hpp"
#include "mtk/core/fs.hpp"

namespace stdfs = std::filesystem;
using nlohmann::json;

namespace {

std::vector<std::string> sft_args(const stdfs::path& out) {
  const std::string exe = (mtk::test::build_dir() / "manim-train").string();
  std::vector<std::string> a = {exe, "--log-level", "warn", "sft", "--config",
                                (mtk::fs::project_root() / "configs/sft/smollm2-135m.json").string()};
  for (const char* s : {"max_length=400", "batch_size=1", "grad_accum=1", "max_train_examples=4",
                        "max_val_examples=1", "epochs=1", "save_every=2", "eval_every=2", "threads=2"}) {
    a.push_back("--set");
    a.push_back(s);
  }
  a.push_back("--set");
  a.push_back("output_dir=" + out.string());
  return a;
}

pid_t spawn(const std::vector<std::string>& args) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    std::vector<char*> argv;
    for (const auto& s : args) argv.push_back(const_cast<char*>(s.c_str()));
    argv.push_back(nullptr);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  return pid;
}

int run_to_end(const std::vector<std::string>& args) {
  const pid_t pid = spawn(args);
  int st = 0;
  ::waitpid(pid, &st, 0);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

std::vector<json> metrics(const stdfs::path& dir) {
  std::vector<json> rows;
  std::istringstream in(mtk::fs::read_file(dir / "metrics.jsonl"));
  std::string line;
  while (std::getline(in, line))
    if (!line.empty()) rows.push_back(json::parse(line));
  return rows;
}

}  // namespace

TEST_CASE("manim-train sft: kill -9 after a checkpoint, --resume, the same run", "[sft][resume][kill]") {
  (void)mtk::test::smollm2_path();
  const auto root = mtk::fs::make_temp_dir(stdfs::temp_directory_path(), "mtk-sft-kill-");
  // Uninterrupted: 4 steps, checkpoints at 2 and 4.
  REQUIRE(run_to_end(sft_args(root / "a")) == 0);
  const auto want = metrics(root / "a");
  REQUIRE(want.size() == 4);

  // Killed with SIGKILL as soon as checkpoint-2 is complete (it appears by an atomic rename), i.e.
  // during step 3; then resumed.
  auto args = sft_args(root / "b");
  const pid_t pid = spawn(args);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(5);
  bool saw_checkpoint = false;
  int st = 0;
  while (std::chrono::steady_clock::now() < deadline) {
    if (stdfs::exists(root / "b" / "checkpoint-2" / "trainer_state.json")) {
      saw_checkpoint = true;
      ::kill(pid, SIGKILL);
      break;
    }
    if (::waitpid(pid, &st, WNOHANG) == pid) break;  // ended on its own: the test cannot kill it
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  REQUIRE(saw_checkpoint);
  ::waitpid(pid, &st, 0);
  REQUIRE(WIFSIGNALED(st));
  CHECK(WTERMSIG(st) == SIGKILL);
  CHECK_FALSE(stdfs::exists(root / "b" / "checkpoint-4"));
  CHECK_FALSE(stdfs::exists(root / "b" / "adapter"));

  args.push_back("--resume");
  REQUIRE(run_to_end(args) == 0);
  const auto got = metrics(root / "b");
  REQUIRE(got.size() == want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    INFO("step " << i + 1);
    CHECK(got[i]["step"] == want[i]["step"]);
    CHECK(got[i]["loss"] == want[i]["loss"]);
    CHECK(got[i]["grad_norm"] == want[i]["grad_norm"]);
    CHECK(got[i]["lr"] == want[i]["lr"]);
    CHECK(got[i]["val_loss"] == want[i]["val_loss"]);
  }
  CHECK(mtk::fs::read_file(root / "a" / "adapter" / "adapter_model.safetensors") ==
        mtk::fs::read_file(root / "b" / "adapter" / "adapter_model.safetensors"));
  CHECK(mtk::fs::read_file(root / "a" / "adapter.gguf") == mtk::fs::read_file(root / "b" / "adapter.gguf"));
  stdfs::remove_all(root);
}
