#include <catch2/catch.hpp>

#include "helpers.hpp"
#include "mtk/core/error.hpp"
#include "mtk/core/fs.hpp"
#include "mtk/core/process.hpp"
#include "mtk/render/feedback.hpp"
#include "mtk/render/result.hpp"

using namespace mtk;
using namespace mtk::render;

namespace {

const char* kRichStderr = R"(╭───────────────────── Traceback (most recent call last) ──────────────────────╮
│ /work/main/.venv/lib/python3.11/site-packages/manim/cli/render/commands.py:1 │
│ 25 in render                                                                 │
│                                                                              │
│   122 │   │   │   try:                                                       │
│ ❱ 125 │   │   │   │   │   scene.render()                                     │
│                                                                              │
│ /tmp/job/scene.py:10 in construct                                            │
│                                                                              │
│    7 │   def construct(self):                                                │
│ ❱ 10 │   │   helper(s)                                                       │
│   11                                                                         │
│                                                                              │
│ /tmp/job/scene.py:4 in helper                                                │
│                                                                              │
│    3 def helper(x):                                                          │
│ ❱  4 │   return x.shfit(UP)                                                  │
│    5                                                                         │
│                                                                              │
│ /work/main/.venv/lib/python3.11/site-packages/manim/mobject/mobject.py:723   │
│ in __getattr__                                                               │
│                                                                              │
│ ❱  723 │   │   raise AttributeError(f"{type(self).__name__} object has no at │
╰──────────────────────────────────────────────────────────────────────────────╯
AttributeError: Square object has no attribute 'shfit'
)";

const char* kPlainStderr = R"(Traceback (most recent call last):
  File "/work/main/.venv/lib/python3.11/site-packages/manim/utils/module_ops.py", line 67, in get_module
    spec.loader.exec_module(module)
  File "<frozen importlib._bootstrap>", line 241, in _call_with_frames_removed
  File "/tmp/job/scene.py", line 3
    def construct(self)
                       ^
SyntaxError: expected ':'
)";

// Python's "\n".join(s.strip().splitlines()[-n:]) on the same bytes.
std::string python_tail(const std::string& text, int n) {
  auto dir = fs::make_temp_dir(test::scratch_root(), "tail-");
  fs::atomic_write(dir / "in.txt", text);
  proc::Spec s;
  s.argv = {fs::manim_python().string(), "-c",
            "import sys\n"
            "s = open(sys.argv[1], 'rb').read().decode('utf-8', 'surrogateescape')\n"
            "out = '\\n'.join(s.strip().splitlines()[-int(sys.argv[2]):])\n"
            "sys.stdout.buffer.write(out.encode('utf-8', 'surrogateescape'))\n",
            (dir / "in.txt").string(), std::to_string(n)};
  s.env = {"PATH=/usr/bin:/bin", "LANG=C.UTF-8"};
  auto r = proc::run(s);
  std::filesystem::remove_all(dir);
  REQUIRE(r.exit_code == 0);
  return r.out;
}

}  // namespace

TEST_CASE("feedback_tail matches Python's strip().splitlines()[-n:]", "[unit][render]") {
  std::vector<std::string> texts = {
      kRichStderr,
      kPlainStderr,
      "",
      "   \n\t  \n",
      "one line",
      "a\r\nb\rc\nd\x0b" "e\x0c" "f\x1cg\x1dh\x1ei\x1fj",
      "x\xc2\x85y\xe2\x80\xa8z\xe2\x80\xa9w",                 // U+0085, U+2028, U+2029
      "\xc2\xa0\xe3\x80\x80 lead\n\nmid\n\n\ntrail \xe2\x80\x83\n",  // NBSP, ideographic and em space
      "bad \xff byte\nline\n\xfe",
      "\n\n\nA\n\n",
      "trailing cr\r",
  };
  std::string many;
  for (int i = 0; i < 30; ++i) many += "line " + std::to_string(i) + (i % 3 ? "\n" : "\r\n");
  texts.push_back(many);
  for (const auto& t : texts)
    for (int n : {10, 1, 3, 100, 0, -2}) {
      INFO("text: " << t << " n: " << n);
      CHECK(feedback_tail(t, n) == python_tail(t, n));
    }
}

TEST_CASE("feedback_tail on a result falls back to stdout, then to the error line", "[unit][render]") {
  RenderResult r;
  r.stderr_text = " \n";
  r.stdout_text = "a\nb\nc\n";
  CHECK(feedback_tail(r, 2) == "b\nc");
  r.stdout_text.clear();
  r.error_line = "reason";
  CHECK(feedback_tail(r) == "reason");
  r.stderr_text = "x\ny";
  CHECK(feedback_tail(r) == "x\ny");
}

TEST_CASE("exception_line and strip_box_drawing", "[unit][render]") {
  CHECK(exception_line(kRichStderr) == "AttributeError: Square object has no attribute 'shfit'");
  CHECK(exception_line(kPlainStderr) == "SyntaxError: expected ':'");
  CHECK(exception_line("") == "");
  CHECK(exception_line("just text\n") == "");
  // rich wraps long messages at the console width
  std::string wrapped = std::string(kRichStderr).substr(0, std::string(kRichStderr).rfind("AttributeError")) +
                        "ValueError: latex error converting to dvi. See log output above or the log file:\n"
                        "media/Tex/f5a3c03d3547f607.log\n";
  CHECK(exception_line(wrapped) ==
        "ValueError: latex error converting to dvi. See log output above or the log file: media/Tex/f5a3c03d3547f607.log");
  std::string s = strip_box_drawing(kRichStderr);
  CHECK(s.find("\u2502") == s.find("│ "));  // only rich's indent guides inside code remain
  CHECK(s.find("\u256d") == std::string::npos);
  CHECK(s.find("\u2570") == std::string::npos);
  CHECK(s.find("/tmp/job/scene.py:10 in construct\n") != std::string::npos);
}

TEST_CASE("feedback_clean keeps the user's frames and the exception", "[unit][render]") {
  RenderResult r;
  r.failure = FailureClass::attribute;
  r.stderr_text = kRichStderr;
  r.error_line = "AttributeError: Square object has no attribute 'shfit'";
  const std::string code =
      "from manim import *\n\ndef helper(x):\n    return x.shfit(UP)\n\nclass A(Scene):\n    def construct(self):\n"
      "        s = Square()\n        self.play(Create(s))\n        helper(s)\n";
  const std::string expected =
      "Traceback (frames in scene.py only, most recent call last):\n"
      "  File \"scene.py\", line 10, in construct\n"
      "    helper(s)\n"
      "  File \"scene.py\", line 4, in helper\n"
      "    return x.shfit(UP)\n"
      "AttributeError: Square object has no attribute 'shfit'";
  CHECK(feedback_clean(r, code) == expected);
  CHECK(feedback_clean(r) == expected);  // source lines recovered from the traceback box

  RenderResult p;
  p.failure = FailureClass::syntax;
  p.stderr_text = kPlainStderr;
  CHECK(feedback_clean(p) ==
        "Traceback (frames in scene.py only, most recent call last):\n"
        "  File \"scene.py\", line 3\n"
        "    def construct(self)\n"
        "                       ^\n"
        "SyntaxError: expected ':'");

  RenderResult t;
  t.failure = FailureClass::timeout;
  t.error_line = "Rendering exceeded the 300 s time limit";
  CHECK(feedback_clean(t) == "Rendering exceeded the 300 s time limit");
  RenderResult ok;
  ok.success = true;
  CHECK(feedback_clean(ok).empty());
}

TEST_CASE("LaTeX context is read back from Manim's wrapped log on stdout", "[unit][render]") {
  const std::string out =
      "Manim Community v0.19.0\n\n"
      "ERROR    LaTeX compilation error: Undefined control      tex_file_writing.py:314\n"
      "         sequence.                                                              \n"
      "                                                                                \n"
      "ERROR    Context of error:                               tex_file_writing.py:348\n"
      "         -> \\undefinedmacro{x} + \\alpha                                            \n"
      "         \\end{align*}                                                           \n"
      "         \\end{document}                                                         \n";
  RenderResult r;
  r.failure = FailureClass::latex;
  r.stdout_text = out;
  CHECK(feedback_clean(r) ==
        "LaTeX compilation error: Undefined control sequence.\n"
        "Context of error:\n"
        "-> \\undefinedmacro{x} + \\alpha\n"
        "\\end{align*}\n"
        "\\end{document}");
}

TEST_CASE("FailureClass names round-trip and RenderResult JSON round-trips", "[unit][render]") {
  for (int i = 0; i <= static_cast<int>(FailureClass::sandbox); ++i) {
    auto c = static_cast<FailureClass>(i);
    CHECK(failure_from_string(to_string(c)) == c);
  }
  CHECK_THROWS_AS(failure_from_string("bogus"), mtk::Error);
  CHECK(!is_deterministic(FailureClass::timeout));
  CHECK(is_deterministic(FailureClass::latex));
}
