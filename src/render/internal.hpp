#pragma once
// Helpers shared by the render sources; not part of the public API.
#include <string>
#include <string_view>
#include <vector>

namespace mtk::render::detail {

// Replaces invalid UTF-8 sequences with U+FFFD (so the text can go into JSON).
std::string sanitize_utf8(std::string_view s);
// Splits at \n, dropping a \r before it.
std::vector<std::string_view> split_lines(std::string_view s);
// "pkg.mod.KeyError: 'x'" -> "KeyError"; "" when the line does not start with a dotted name.
std::string exception_type(std::string_view line);
// A Manim log line from stdout without rich's time, level and source-location columns.
std::string clean_log_line(std::string_view line);
// The LaTeX error context Manim logged on stdout ("LaTeX compilation error: ..." onwards).
std::vector<std::string> latex_context(std::string_view stdout_text, size_t max_lines = 14);

}  // namespace mtk::render::detail
