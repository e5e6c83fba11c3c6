#include "mtk/render/feedback.hpp"

#include <algorithm>
#include <cctype>

#include "internal.hpp"
#include "mtk/core/strings.hpp"
#include "mtk/core/utf8.hpp"
#include "mtk/render/result.hpp"

namespace mtk::render {

namespace {

constexpr std::string_view kVBar = "\u2502";    // │
constexpr std::string_view kArrow = "\u2771";   // ❱ (rich's current-line marker)
constexpr std::string_view kTopLeft = "\u256d";  // ╭
constexpr std::string_view kBotLeft = "\u2570";  // ╰

// Decodes one UTF-8 code point at s[i] as Python does; returns -1 (length 1) for an invalid byte.
long decode(std::string_view s, size_t i, size_t& len) {
  const utf8::Char c = utf8::at(s, i, true);
  len = c.len;
  return c.valid ? static_cast<long>(c.cp) : -1;
}

// str.isspace() for the code points str.strip() removes.
bool py_space(long cp) {
  return (cp >= 0x09 && cp <= 0x0D) || (cp >= 0x1C && cp <= 0x20) || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
         (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F ||
         cp == 0x3000;
}

// Line boundaries of str.splitlines() (\r\n is handled by the caller).
bool py_linebreak(long cp) {
  return cp == 0x0A || cp == 0x0B || cp == 0x0C || cp == 0x0D || cp == 0x1C || cp == 0x1D || cp == 0x1E ||
         cp == 0x85 || cp == 0x2028 || cp == 0x2029;
}

bool starts_with(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }
bool ends_with(std::string_view s, std::string_view p) {
  return s.size() >= p.size() && s.substr(s.size() - p.size()) == p;
}
size_t display_width(std::string_view s) {
  size_t w = 0;
  for (unsigned char c : s)
    if ((c & 0xC0) != 0x80) ++w;
  return w;
}

bool is_user_file(std::string_view path) {
  if (!(path == "scene.py" || ends_with(path, "/scene.py"))) return false;
  return path.find("site-packages") == std::string_view::npos && path.find("dist-packages") == std::string_view::npos;
}

std::string source_line(std::string_view code, int lineno) {
  if (code.empty() || lineno <= 0) return {};
  auto lines = detail::split_lines(code);
  if (static_cast<size_t>(lineno) > lines.size()) return {};
  return std::string(trim(lines[static_cast<size_t>(lineno) - 1]));
}

struct Frame {
  std::string path, func;
  int line = 0;
  std::vector<std::string> extra;  // code and caret lines from a plain traceback
  std::string boxed_code;          // the marked line from a rich traceback
};

// Frames of a rich traceback (box drawing already removed): blocks separated by blank lines,
// alternating a header "path:line in func" (wrapped over several lines) and a code excerpt.
std::vector<Frame> rich_frames(const std::vector<std::string_view>& lines) {
  std::vector<Frame> frames;
  std::vector<std::vector<std::string_view>> blocks(1);
  for (auto l : lines) {
    if (trim(l).empty()) {
      if (!blocks.back().empty()) blocks.emplace_back();
    } else {
      blocks.back().push_back(l);
    }
  }
  for (const auto& b : blocks) {
    if (b.empty()) continue;
    if (b.front().find(kArrow) != std::string_view::npos || std::isdigit(static_cast<unsigned char>(trim(b.front())[0]))) {
      // a code excerpt: attach the marked line to the previous frame
      if (frames.empty()) continue;
      for (auto l : b) {
        size_t a = l.find(kArrow);
        if (a == std::string_view::npos) continue;
        std::string_view rest = l.substr(a + kArrow.size());
        size_t k = 0;
        while (k < rest.size() && rest[k] == ' ') ++k;
        while (k < rest.size() && std::isdigit(static_cast<unsigned char>(rest[k]))) ++k;
        if (k < rest.size() && rest[k] == ' ') ++k;
        std::string code(rest.substr(k));
        for (size_t p; (p = code.find(kVBar)) != std::string::npos;) code.replace(p, kVBar.size(), " ");
        frames.back().boxed_code = std::string(trim(code));
      }
      continue;
    }
    std::string joined;
    for (auto l : b) joined += std::string(trim(l));
    // "<path>:<line> in <func>", the spaces around "in" possibly eaten by wrapping
    for (size_t p = joined.rfind("in"); p != std::string::npos && p > 0; p = joined.rfind("in", p - 1)) {
      size_t q = p;
      while (q > 0 && joined[q - 1] == ' ') --q;
      size_t d = q;
      while (d > 0 && std::isdigit(static_cast<unsigned char>(joined[d - 1]))) --d;
      if (d < q && d > 0 && joined[d - 1] == ':') {
        Frame f;
        f.path = joined.substr(0, d - 1);
        f.line = std::atoi(joined.substr(d, q - d).c_str());
        f.func = std::string(trim(std::string_view(joined).substr(p + 2)));
        frames.push_back(std::move(f));
        break;
      }
      if (p == 0) break;
    }
  }
  return frames;
}

// Frames of a plain Python traceback: '  File "path", line N, in func' plus indented lines.
std::vector<Frame> plain_frames(const std::vector<std::string_view>& lines) {
  std::vector<Frame> frames;
  for (size_t i = 0; i < lines.size(); ++i) {
    std::string_view l = lines[i];
    std::string_view t = trim(l);
    if (!starts_with(t, "File \"")) continue;
    size_t q = t.find('"', 6);
    if (q == std::string_view::npos) continue;
    Frame f;
    f.path = std::string(t.substr(6, q - 6));
    std::string_view rest = t.substr(q + 1);
    size_t ln = rest.find("line ");
    if (ln == std::string_view::npos) continue;
    f.line = std::atoi(std::string(rest.substr(ln + 5)).c_str());
    size_t in = rest.find(", in ");
    if (in != std::string_view::npos) f.func = std::string(trim(rest.substr(in + 5)));
    const size_t indent = l.find_first_not_of(' ');
    for (size_t j = i + 1; j < lines.size(); ++j) {
      std::string_view m = lines[j];
      size_t mi = m.find_first_not_of(' ');
      if (mi == std::string_view::npos || mi <= indent) break;
      f.extra.emplace_back(rtrim(m));
    }
    frames.push_back(std::move(f));
  }
  return frames;
}

}  // namespace

namespace detail {

std::string sanitize_utf8(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    size_t len;
    long cp = decode(s, i, len);
    if (cp < 0) {
      out += "\xEF\xBF\xBD";
    } else {
      out.append(s.substr(i, len));
    }
    i += len;
  }
  return out;
}

std::vector<std::string_view> split_lines(std::string_view s) {
  std::vector<std::string_view> out;
  size_t b = 0;
  while (b < s.size()) {
    size_t e = s.find('\n', b);
    if (e == std::string_view::npos) e = s.size();
    std::string_view l = s.substr(b, e - b);
    if (!l.empty() && l.back() == '\r') l.remove_suffix(1);
    out.push_back(l);
    b = e + 1;
  }
  return out;
}

std::string exception_type(std::string_view line) {
  size_t k = 0;
  std::string_view last;
  for (;;) {
    size_t b = k;
    if (k >= line.size() || !(std::isalpha(static_cast<unsigned char>(line[k])) || line[k] == '_')) return {};
    while (k < line.size() && (std::isalnum(static_cast<unsigned char>(line[k])) || line[k] == '_')) ++k;
    last = line.substr(b, k - b);
    if (k < line.size() && line[k] == '.') {
      ++k;
      continue;
    }
    break;
  }
  if (k < line.size() && line[k] != ':') return {};
  return std::string(last);
}

std::string clean_log_line(std::string_view line) {
  std::string_view s = rtrim(line);
  std::string_view t = trim(s);
  if (starts_with(t, "[")) {  // "[11/22/26 02:11:03]" timestamps
    size_t e = t.find(']');
    if (e != std::string_view::npos && e < 24) t = trim(t.substr(e + 1));
  }
  for (std::string_view lvl : {"CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG"}) {
    if (starts_with(t, lvl) && (t.size() == lvl.size() || t[lvl.size()] == ' ')) {
      t = trim(t.substr(lvl.size()));
      break;
    }
  }
  // Right-aligned "file.py:123" column after a run of spaces.
  size_t sp = t.rfind("  ");
  if (sp != std::string_view::npos) {
    std::string_view tail = trim(t.substr(sp));
    size_t colon = tail.rfind(':');
    if (colon != std::string_view::npos && colon > 3 && tail.substr(colon - 3, 3) == ".py" &&
        tail.find(' ') == std::string_view::npos &&
        std::all_of(tail.begin() + static_cast<long>(colon) + 1, tail.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); }))
      t = rtrim(t.substr(0, sp));
  }
  return std::string(t);
}

// Manim logs through rich: "LEVEL    message ... file.py:123", the message column wrapped at a
// width of (path column start - 10); records end at a blank line. The "LaTeX compilation error"
// record is one logical line, so its wrapped lines are joined back; in the other records (the
// TeX source context) wrapping cannot be told from real line breaks, so lines stay as they are.
std::vector<std::string> latex_context(std::string_view stdout_text, size_t max_lines) {
  static const std::string_view kLevels[] = {"CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG"};
  constexpr size_t kMsgCol = 9;
  std::vector<std::string> logical;
  std::vector<std::string_view> msg;
  size_t width = 0;
  auto flush = [&] {
    const bool one_line = !msg.empty() && starts_with(trim(msg[0]), "LaTeX compilation error");
    for (size_t i = 0; i < msg.size(); ++i) {
      std::string_view m = rtrim(msg[i]);
      if (i > 0 && one_line) {
        bool fold = width > 0 && display_width(rtrim(msg[i - 1])) >= width;
        logical.back() += fold ? "" : " ";
        logical.back().append(trim(m));
      } else {
        logical.emplace_back(m);
      }
    }
    msg.clear();
    width = 0;
  };
  for (auto l : split_lines(stdout_text)) {
    bool starts_record = false;
    for (auto lvl : kLevels)
      if (starts_with(l, lvl) && l.size() > kMsgCol && l.substr(lvl.size(), kMsgCol - lvl.size()).find_first_not_of(' ') == std::string_view::npos)
        starts_record = true;
    if (starts_record) {
      flush();
      std::string_view body = rtrim(l);
      size_t sp = body.rfind(' ');
      std::string_view path = sp == std::string_view::npos ? std::string_view() : body.substr(sp + 1);
      size_t colon = path.rfind(':');
      bool has_path = colon != std::string_view::npos && colon > 3 && path.substr(colon - 3, 3) == ".py";
      if (has_path && sp + 1 > kMsgCol + 1) {
        width = sp + 1 - kMsgCol - 1;
        msg.push_back(l.substr(kMsgCol, std::min(width, sp - kMsgCol)));
      } else {
        msg.push_back(l.substr(kMsgCol));
      }
    } else if (trim(l).empty()) {
      flush();
    } else if (starts_with(l, std::string(kMsgCol, ' ')) && !msg.empty()) {
      msg.push_back(l.substr(kMsgCol));
    } else {
      flush();
      logical.emplace_back(clean_log_line(l));
    }
  }
  flush();
  std::vector<std::string> out;
  bool on = false;
  for (auto& c : logical) {
    if (!on && c.find("LaTeX compilation error") != std::string::npos) on = true;
    if (!on || trim(c).empty()) continue;
    out.push_back(std::move(c));
    if (out.size() >= max_lines) break;
  }
  return out;
}

}  // namespace detail

std::string feedback_tail(std::string_view text, int n) {
  struct Cp {
    size_t at, len;
    long cp;
  };
  std::vector<Cp> cps;
  cps.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    size_t len;
    long cp = decode(text, i, len);
    cps.push_back({i, len, cp});
    i += len;
  }
  size_t b = 0, e = cps.size();
  while (b < e && py_space(cps[b].cp)) ++b;
  while (e > b && py_space(cps[e - 1].cp)) --e;
  std::vector<std::string_view> lines;
  size_t start = b;
  for (size_t i = b; i < e; ++i) {
    if (!py_linebreak(cps[i].cp)) continue;
    lines.push_back(text.substr(cps[start].at, cps[i].at - cps[start].at));
    if (cps[i].cp == '\r' && i + 1 < e && cps[i + 1].cp == '\n') ++i;
    start = i + 1;
  }
  if (start < e) lines.push_back(text.substr(cps[start].at, cps[e - 1].at + cps[e - 1].len - cps[start].at));
  // Python slice semantics of lines[-n:]
  const long sz = static_cast<long>(lines.size());
  long from = n > 0 ? std::max(0L, sz - n) : std::min(sz, static_cast<long>(-static_cast<long long>(n)));
  std::string out;
  for (long i = from; i < sz; ++i) {
    if (i > from) out += '\n';
    out.append(lines[static_cast<size_t>(i)]);
  }
  return out;
}

std::string feedback_tail(const RenderResult& r, int n) {
  auto blank = [](const std::string& s) { return feedback_tail(s, 1).empty(); };
  if (!blank(r.stderr_text)) return feedback_tail(r.stderr_text, n);
  if (!blank(r.stdout_text)) return feedback_tail(r.stdout_text, n);
  return r.error_line;
}

std::string strip_box_drawing(std::string_view text) {
  std::string out;
  for (auto l : detail::split_lines(text)) {
    std::string_view t = trim(l);
    if (starts_with(t, kTopLeft) || starts_with(t, kBotLeft)) continue;
    if (starts_with(t, kVBar)) {
      t.remove_prefix(kVBar.size());
      t = rtrim(t);
      if (ends_with(t, kVBar)) t.remove_suffix(kVBar.size());
      if (!t.empty() && t.front() == ' ') t.remove_prefix(1);
      out.append(rtrim(t));
    } else {
      out.append(rtrim(l));
    }
    out += '\n';
  }
  return out;
}

std::string exception_line(std::string_view stderr_text) {
  auto lines = detail::split_lines(stderr_text);
  // Rich traceback: the exception follows the box's bottom rule; rich wraps long messages.
  for (size_t i = lines.size(); i-- > 0;) {
    if (!starts_with(trim(lines[i]), kBotLeft)) continue;
    size_t j = i + 1;
    while (j < lines.size() && trim(lines[j]).empty()) ++j;
    if (j == lines.size()) break;
    std::string ex(rtrim(lines[j]));
    size_t prev_width = display_width(lines[j]);
    for (size_t k = j + 1; k < lines.size() && prev_width >= 60; ++k) {
      std::string_view m = rtrim(lines[k]);
      if (m.empty()) break;
      ex += " ";
      ex.append(trim(m));
      prev_width = display_width(lines[k]);
    }
    return ex;
  }
  // Plain traceback: the first unindented line after the last frame.
  size_t last_frame = std::string_view::npos;
  for (size_t i = 0; i < lines.size(); ++i)
    if (starts_with(lines[i], "  File \"") || starts_with(lines[i], "Traceback (most recent call last)")) last_frame = i;
  if (last_frame != std::string_view::npos) {
    for (size_t j = last_frame + 1; j < lines.size(); ++j) {
      std::string_view m = lines[j];
      if (m.empty() || m[0] == ' ' || m[0] == '\t') continue;
      if (!detail::exception_type(m).empty()) return std::string(rtrim(m));
    }
  }
  // Anything that looks like "SomethingError: ..." near the end.
  for (size_t i = lines.size(); i-- > 0;) {
    std::string_view m = rtrim(lines[i]);
    std::string t = detail::exception_type(m);
    if (t.size() > 5 && (ends_with(t, "Error") || ends_with(t, "Exception") || t == "KeyboardInterrupt" ||
                         t == "SystemExit" || t == "StopIteration"))
      return std::string(m);
  }
  return {};
}

std::string feedback_clean(const RenderResult& r, std::string_view code) {
  if (r.success) return {};
  std::string out;
  auto add = [&](std::string_view s) {
    out.append(s);
    out += '\n';
  };
  const FailureClass c = r.failure;
  const bool explained = c == FailureClass::timeout || c == FailureClass::memory || c == FailureClass::killed ||
                         c == FailureClass::no_scene || c == FailureClass::no_output || c == FailureClass::sandbox ||
                         c == FailureClass::disk;
  std::string ex = exception_line(r.stderr_text);
  if (explained && !r.error_line.empty() && r.error_line != ex) add(r.error_line);

  if (c == FailureClass::latex) {
    for (const auto& l : detail::latex_context(r.stdout_text)) add(l);
  }

  std::string stripped = strip_box_drawing(r.stderr_text);
  auto lines = detail::split_lines(stripped);
  std::vector<Frame> frames = plain_frames(lines);
  auto boxed = rich_frames(lines);
  frames.insert(frames.end(), boxed.begin(), boxed.end());
  std::vector<Frame> user;
  for (auto& f : frames)
    if (is_user_file(f.path)) user.push_back(f);
  if (!user.empty()) {
    add("Traceback (frames in scene.py only, most recent call last):");
    for (const auto& f : user) {
      std::string head = "  File \"scene.py\", line " + std::to_string(f.line);
      if (!f.func.empty()) head += ", in " + f.func;
      add(head);
      std::string src = source_line(code, f.line);
      if (!f.extra.empty()) {
        for (const auto& x : f.extra) add(x);
      } else if (!src.empty()) {
        add("    " + src);
      } else if (!f.boxed_code.empty()) {
        add("    " + f.boxed_code);
      }
    }
  }
  if (!ex.empty()) add(ex);
  if (out.empty()) add(!r.error_line.empty() ? r.error_line : feedback_tail(r, 10));
  while (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

}  // namespace mtk::render
