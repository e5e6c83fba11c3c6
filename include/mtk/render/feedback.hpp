#pragma once
// Turning a failed render into text for an LLM (renderer-in-the-loop).
#include <string>
#include <string_view>

namespace mtk::render {

struct RenderResult;

// The paper's recipe, exactly Python's "\n".join(text.strip().splitlines()[-n:]): strip() removes
// Unicode whitespace at both ends; splitlines() breaks at \n, \r\n, \r, \v, \f, \x1c, \x1d, \x1e,
// \x85, U+2028 and U+2029. Invalid UTF-8 bytes are kept and never break lines.
std::string feedback_tail(std::string_view text, int n = 10);
// The recipe on the result's stderr, or on its stdout when stderr is blank, or the error line
// when both are.
std::string feedback_tail(const RenderResult& r, int n = 10);

// A compact alternative: the exception line, the traceback frames inside the user's scene.py
// (line number and source line; from `code` when given, else from the traceback), LaTeX context
// from stdout, no box drawing and no frames from Manim's internals. For timeout, memory, killed,
// no_scene, no_output and sandbox a one-line explanation leads. "" for a success.
std::string feedback_clean(const RenderResult& r, std::string_view code = {});

// Removes rich's box drawing (the │ borders and the ╭─ ╰─ rules) from a traceback.
std::string strip_box_drawing(std::string_view text);
// The last Python exception line of a traceback ("NameError: name 'x' is not defined"), with a
// message that rich wrapped onto following lines joined back; "" when there is none.
std::string exception_line(std::string_view stderr_text);

}  // namespace mtk::render
