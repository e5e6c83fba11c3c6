// Text layer of CodeBLEU: Python's whitespace rules, the package's comment/docstring removal (which
// runs Python 3.11's pure-Python tokenize module: reproduced here token by token), and CPython's
// str hash + set iteration order (the package builds variable-name lists through sets).
#include <algorithm>
#include <cstring>

#include "codebleu_internal.hpp"
#include "mtk/core/utf8.hpp"

namespace mtk::metrics {
namespace cb {

std::u32string utf8_decode(std::string_view s) {
  std::u32string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    const utf8::Char c = utf8::at(s, i);
    out.push_back(c.valid ? c.cp : 0xFFFD);
    i += c.len;
  }
  return out;
}

void utf8_append(std::string& out, char32_t c) { utf8::append(out, c); }

std::string utf8_encode(std::u32string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char32_t c : s) utf8::append(out, c);
  return out;
}

// Python's str.isspace() (Py_UNICODE_ISSPACE).
bool py_isspace(char32_t c) {
  if (c < 128) return c == ' ' || (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x1F);
  return c == 0x85 || c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 ||
         c == 0x202F || c == 0x205F || c == 0x3000;
}

namespace {

// Decodes one code point at s[i] (UTF-8); returns its byte length (1 for invalid bytes, which
// decode as U+FFFD).
char32_t decode_at(std::string_view s, size_t i, size_t* len) {
  const utf8::Char c = utf8::at(s, i);
  *len = c.len;
  return c.valid ? c.cp : 0xFFFD;
}

// Python's re `\w` for str patterns is Unicode alphanumeric or '_'. Exact for ASCII; for other
// characters an approximation by blocks (punctuation, symbols, arrows, emoji are not word
// characters). Only identifiers outside strings and comments depend on it.
bool py_isword(char32_t c) {
  if (c < 128) return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
  if (py_isspace(c)) return false;
  if (c <= 0xBF)
    return c == 0xAA || c == 0xB2 || c == 0xB3 || c == 0xB5 || c == 0xB9 || c == 0xBA || c == 0xBC || c == 0xBD ||
           c == 0xBE;
  if (c == 0xD7 || c == 0xF7) return false;
  if (c >= 0x2000 && c <= 0x206F) return false;
  if (c >= 0x20A0 && c <= 0x20CF) return false;
  if (c >= 0x2190 && c <= 0x23FF) return false;
  if (c >= 0x2500 && c <= 0x27FF) return false;
  if (c >= 0x2900 && c <= 0x2BFF) return false;
  if (c >= 0x3000 && c <= 0x3004) return false;
  if (c >= 0x3008 && c <= 0x303F) return false;
  if (c >= 0xE000 && c <= 0xF8FF) return false;
  if (c >= 0xFE30 && c <= 0xFE4F) return false;
  if ((c >= 0xFF00 && c <= 0xFF0F) || (c >= 0xFF1A && c <= 0xFF20) || (c >= 0xFF3B && c <= 0xFF40) ||
      (c >= 0xFF5B && c <= 0xFF65))
    return false;
  if (c >= 0xFFF0 && c <= 0xFFFF) return false;
  if (c >= 0x1F000 && c <= 0x1FAFF) return false;
  return true;
}

bool py_isidentifier_start(char32_t c) {
  if (c < 128) return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
  if (c == 0xB2 || c == 0xB3 || c == 0xB9 || c == 0xBC || c == 0xBD || c == 0xBE) return false;
  if (c >= 0x2070 && c <= 0x209F) return false;
  return py_isword(c);
}

}  // namespace
}  // namespace cb

std::string python_strip(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e) {
    size_t len;
    char32_t c = cb::decode_at(s, b, &len);
    if (!cb::py_isspace(c)) break;
    b += len;
  }
  while (e > b) {
    size_t k = e - 1;  // find the start of the last code point
    while (k > b && (static_cast<unsigned char>(s[k]) & 0xC0) == 0x80 && e - k < 4) --k;
    size_t len;
    char32_t c = cb::decode_at(s, k, &len);
    if (k + len != e) {  // invalid tail byte: not whitespace
      break;
    }
    if (!cb::py_isspace(c)) break;
    e = k;
  }
  return std::string(s.substr(b, e - b));
}

std::vector<std::string_view> python_split(std::string_view s) {
  std::vector<std::string_view> out;
  size_t i = 0, n = s.size(), start = std::string_view::npos;
  while (i < n) {
    size_t len;
    char32_t c = cb::decode_at(s, i, &len);
    if (cb::py_isspace(c)) {
      if (start != std::string_view::npos) out.push_back(s.substr(start, i - start));
      start = std::string_view::npos;
    } else if (start == std::string_view::npos) {
      start = i;
    }
    i += len;
  }
  if (start != std::string_view::npos) out.push_back(s.substr(start));
  return out;
}

// ---------------------------------------------------------------------------------------------
// remove_comments_and_docstrings: Python 3.11 tokenize.generate_tokens, the package's loop on top.
namespace {

using U = std::u32string;
using UV = std::u32string_view;
enum class Tok { NAME, NUMBER, STRING, NEWLINE, NL, INDENT, DEDENT, OP, COMMENT, ERRORTOKEN, ENDMARKER };
struct TokenizeFailed {};

struct Remover {  // the package's loop over the tokens
  U out;
  Tok prev = Tok::INDENT;
  long last_lineno = -1, last_col = 0;
  void emit(Tok t, UV s, long sl, long sc, long el, long ec) {
    if (sl > last_lineno) last_col = 0;
    if (sc > last_col) out.append(static_cast<size_t>(sc - last_col), U' ');
    if (t == Tok::COMMENT) {
    } else if (t == Tok::STRING) {
      if (prev != Tok::INDENT && prev != Tok::NEWLINE && sc > 0) out.append(s);
    } else {
      out.append(s);
    }
    prev = t;
    last_col = ec;
    last_lineno = el;
  }
};

constexpr size_t npos = std::string_view::npos;

bool is_prefix_letter(char32_t c) {
  return c == 'b' || c == 'B' || c == 'r' || c == 'R' || c == 'u' || c == 'U' || c == 'f' || c == 'F';
}
// Length of a valid string prefix at p that is directly followed by a quote, or npos.
size_t string_prefix(UV line, size_t p) {
  size_t n = 0;
  while (n < 2 && p + n < line.size() && is_prefix_letter(line[p + n])) ++n;
  for (size_t k = 0; k <= n; ++k) {  // the letters before the quote must be exactly the prefix
    if (p + k < line.size() && (line[p + k] == '\'' || line[p + k] == '"')) {
      if (k == 0) return 0;
      auto low = [](char32_t c) { return static_cast<char>(c | 0x20); };
      if (k == 1) return low(line[p]) != 0 ? 1 : npos;
      std::string two{low(line[p]), low(line[p + 1])};
      if (two == "br" || two == "rb" || two == "fr" || two == "rf") return 2;
      return npos;
    }
  }
  return npos;
}

size_t match_operator(UV line, size_t p) {
  static const char* ops3[] = {"**=", "...", "//=", "<<=", ">>="};
  static const char* ops2[] = {"!=", "%=", "&=", "**", "*=", "+=", "-=", "->", "//", "/=",
                               ":=", "<<", "<=", "==", ">=", ">>", "@=", "^=", "|="};
  static const char ops1[] = "%&()*+,-./:;<=>@[]^{|}~";
  auto at = [&](const char* op, size_t len) {
    if (p + len > line.size()) return false;
    for (size_t k = 0; k < len; ++k)
      if (line[p + k] != static_cast<char32_t>(op[k])) return false;
    return true;
  };
  for (const char* op : ops3)
    if (at(op, 3)) return p + 3;
  for (const char* op : ops2)
    if (at(op, 2)) return p + 2;
  if (line[p] < 128 && std::strchr(ops1, static_cast<char>(line[p])) && line[p] != 0) return p + 1;
  return npos;
}

bool is_digit(char32_t c) { return c >= '0' && c <= '9'; }

// Number: the exact boundaries do not change the output (tokens are re-joined by column), only that
// a number is one token starting with a digit or with '.' + digit.
size_t match_number(UV line, size_t p) {
  size_t n = line.size();
  if (!(is_digit(line[p]) || (line[p] == '.' && p + 1 < n && is_digit(line[p + 1])))) return npos;
  size_t i = p + 1;
  while (i < n) {
    char32_t c = line[i];
    if (is_digit(c) || c == '_' || c == '.' || (c < 128 && std::isalpha(static_cast<int>(c)))) {
      ++i;
    } else if ((c == '+' || c == '-') && (line[i - 1] == 'e' || line[i - 1] == 'E') && i + 1 < n &&
               is_digit(line[i + 1]) && (is_digit(line[p]) && (line[p] != '0' || p + 1 == i - 1 || true))) {
      // exponent sign, only inside a decimal literal (not after a hex digit 'e')
      bool hex = (i - p >= 2) && line[p] == '0' && (line[p + 1] == 'x' || line[p + 1] == 'X');
      if (hex) break;
      ++i;
    } else {
      break;
    }
  }
  return i;
}

// ContStr: prefix + quote + body + (closing quote | backslash-newline).
size_t match_contstr(UV line, size_t p) {
  size_t pre = string_prefix(line, p);
  if (pre == npos) return npos;
  size_t n = line.size(), i = p + pre;
  char32_t q = line[i++];
  size_t last_escape = npos;
  while (i < n) {
    char32_t c = line[i];
    if (c == q) return i + 1;
    if (c == '\n') break;
    if (c == '\\') {
      if (i + 1 < n && line[i + 1] != '\n') {
        last_escape = i;
        i += 2;
        continue;
      }
      break;
    }
    ++i;
  }
  if (i < n && line[i] == '\\') {
    if (i + 1 < n && line[i + 1] == '\n') return i + 2;
    if (i + 2 < n && line[i + 1] == '\r' && line[i + 2] == '\n') return i + 3;
  }
  if (i < n && line[i] == '\n' && last_escape != npos && last_escape + 2 == i && line[i - 1] == '\r') return i + 1;
  return npos;
}

// The end of a string continued from `s`: Single/Double (triple = false) or Single3/Double3.
size_t match_string_end(UV line, size_t s, char32_t q, bool triple) {
  size_t n = line.size(), i = s;
  while (i < n) {
    char32_t c = line[i];
    if (c == '\\') {
      if (i + 1 < n && line[i + 1] != '\n') {
        i += 2;
        continue;
      }
      return npos;
    }
    if (c == q) {
      if (!triple) return i + 1;
      if (i + 2 < n && line[i + 1] == q && line[i + 2] == q) return i + 3;
    }
    ++i;
  }
  return npos;
}

enum class Alt { none, extra_cont, extra_end, comment, triple, number, funny, contstr, name };

// PseudoToken = Whitespace + group(PseudoExtras, Number, Funny, ContStr, Name): first alternative.
Alt pseudo_match(UV line, size_t pos, size_t* start, size_t* end) {
  size_t n = line.size(), p = pos;
  while (p < n && (line[p] == ' ' || line[p] == '\f' || line[p] == '\t')) ++p;
  *start = p;
  if (p < n && line[p] == '\\' &&
      ((p + 1 < n && line[p + 1] == '\n') || (p + 2 < n && line[p + 1] == '\r' && line[p + 2] == '\n'))) {
    *end = p + (line[p + 1] == '\n' ? 2 : 3);
    return Alt::extra_cont;
  }
  if (p == n) {
    *end = p;
    return Alt::extra_end;
  }
  if (line[p] == '#') {
    size_t e = p;
    while (e < n && line[e] != '\r' && line[e] != '\n') ++e;
    *end = e;
    return Alt::comment;
  }
  size_t pre = string_prefix(line, p);
  if (pre != npos && p + pre + 2 < n && line[p + pre + 1] == line[p + pre] && line[p + pre + 2] == line[p + pre]) {
    *end = p + pre + 3;
    return Alt::triple;
  }
  size_t e = match_number(line, p);
  if (e != npos) {
    *end = e;
    return Alt::number;
  }
  if (line[p] == '\n') {
    *end = p + 1;
    return Alt::funny;
  }
  if (line[p] == '\r' && p + 1 < n && line[p + 1] == '\n') {
    *end = p + 2;
    return Alt::funny;
  }
  e = match_operator(line, p);
  if (e != npos) {
    *end = e;
    return Alt::funny;
  }
  e = match_contstr(line, p);
  if (e != npos) {
    *end = e;
    return Alt::contstr;
  }
  if (cb::py_isword(line[p])) {
    e = p + 1;
    while (e < n && cb::py_isword(line[e])) ++e;
    *end = e;
    return Alt::name;
  }
  return Alt::none;
}

U python_rstrip_crlf(UV s) {
  size_t e = s.size();
  while (e > 0 && (s[e - 1] == '\r' || s[e - 1] == '\n')) --e;
  return U(s.substr(0, e));
}

bool py_strip_startswith_hash(UV s) {
  size_t b = 0;
  while (b < s.size() && cb::py_isspace(s[b])) ++b;
  return b < s.size() && s[b] == '#';
}

// Runs the tokenizer over `src`, feeding the remover; throws TokenizeFailed where Python raises.
void tokenize(const U& src, Remover& r) {
  std::vector<UV> lines;
  {
    size_t b = 0;
    for (size_t i = 0; i < src.size(); ++i)
      if (src[i] == '\n') {
        lines.emplace_back(src.data() + b, i + 1 - b);
        b = i + 1;
      }
    if (b < src.size()) lines.emplace_back(src.data() + b, src.size() - b);
  }
  size_t next_line = 0;
  long lnum = 0, parenlev = 0;
  bool continued = false;
  bool in_contstr = false, needcont = false, end_triple = false;
  char32_t end_quote = 0;
  U contstr;
  long strstart_l = 0, strstart_c = 0;
  std::vector<long> indents{0};
  UV line, last_line;
  for (;;) {
    last_line = line;
    line = next_line < lines.size() ? lines[next_line++] : UV{};
    ++lnum;
    size_t pos = 0, max = line.size();

    if (in_contstr) {
      if (line.empty()) throw TokenizeFailed{};  // EOF in multi-line string
      size_t end = match_string_end(line, 0, end_quote, end_triple);
      if (end != npos) {
        pos = end;
        U tok = contstr;
        tok.append(line.substr(0, end));
        r.emit(Tok::STRING, tok, strstart_l, strstart_c, lnum, static_cast<long>(end));
        contstr.clear();
        in_contstr = needcont = false;
      } else if (needcont && !(line.size() >= 2 && line.substr(line.size() - 2) == U"\\\n") &&
                 !(line.size() >= 3 && line.substr(line.size() - 3) == U"\\\r\n")) {
        U tok = contstr;
        tok.append(line);
        r.emit(Tok::ERRORTOKEN, tok, strstart_l, strstart_c, lnum, static_cast<long>(line.size()));
        contstr.clear();
        in_contstr = false;
        continue;
      } else {
        contstr.append(line);
        continue;
      }
    } else if (parenlev == 0 && !continued) {
      if (line.empty()) break;
      long column = 0;
      while (pos < max) {
        if (line[pos] == ' ')
          column += 1;
        else if (line[pos] == '\t')
          column = (column / 8 + 1) * 8;
        else if (line[pos] == '\f')
          column = 0;
        else
          break;
        ++pos;
      }
      if (pos == max) break;
      if (line[pos] == '#' || line[pos] == '\r' || line[pos] == '\n') {
        if (line[pos] == '#') {
          U comment = python_rstrip_crlf(line.substr(pos));
          r.emit(Tok::COMMENT, comment, lnum, static_cast<long>(pos), lnum, static_cast<long>(pos + comment.size()));
          pos += comment.size();
        }
        r.emit(Tok::NL, line.substr(pos), lnum, static_cast<long>(pos), lnum, static_cast<long>(line.size()));
        continue;
      }
      if (column > indents.back()) {
        indents.push_back(column);
        r.emit(Tok::INDENT, line.substr(0, pos), lnum, 0, lnum, static_cast<long>(pos));
      }
      while (column < indents.back()) {
        if (std::find(indents.begin(), indents.end(), column) == indents.end()) throw TokenizeFailed{};
        indents.pop_back();
        r.emit(Tok::DEDENT, UV{}, lnum, static_cast<long>(pos), lnum, static_cast<long>(pos));
      }
    } else {
      if (line.empty()) throw TokenizeFailed{};  // EOF in multi-line statement
      continued = false;
    }

    while (pos < max) {
      size_t start = 0, end = 0;
      Alt alt = pseudo_match(line, pos, &start, &end);
      if (alt == Alt::none) {
        r.emit(Tok::ERRORTOKEN, line.substr(pos, 1), lnum, static_cast<long>(pos), lnum, static_cast<long>(pos + 1));
        pos += 1;
        continue;
      }
      pos = end;
      if (start == end) continue;
      UV token = line.substr(start, end - start);
      char32_t initial = line[start];
      const long ls = static_cast<long>(start), le = static_cast<long>(end);
      if (is_digit(initial) || (initial == '.' && token != U"." && token != U"...")) {
        r.emit(Tok::NUMBER, token, lnum, ls, lnum, le);
      } else if (initial == '\r' || initial == '\n') {
        r.emit(parenlev > 0 ? Tok::NL : Tok::NEWLINE, token, lnum, ls, lnum, le);
      } else if (initial == '#') {
        r.emit(Tok::COMMENT, token, lnum, ls, lnum, le);
      } else if (alt == Alt::triple) {
        char32_t q = token.back();
        size_t e = match_string_end(line, pos, q, true);
        if (e != npos) {
          pos = e;
          r.emit(Tok::STRING, line.substr(start, pos - start), lnum, ls, lnum, static_cast<long>(pos));
        } else {
          strstart_l = lnum;
          strstart_c = ls;
          contstr = U(line.substr(start));
          in_contstr = true;
          needcont = false;
          end_quote = q;
          end_triple = true;
          break;
        }
      } else if (alt == Alt::contstr) {
        if (token.back() == '\n') {
          strstart_l = lnum;
          strstart_c = ls;
          size_t pre = string_prefix(line, start);
          end_quote = line[start + pre];
          end_triple = false;
          contstr = U(line.substr(start));
          in_contstr = true;
          needcont = true;
          break;
        }
        r.emit(Tok::STRING, token, lnum, ls, lnum, le);
      } else if (cb::py_isidentifier_start(initial)) {
        r.emit(Tok::NAME, token, lnum, ls, lnum, le);
      } else if (initial == '\\') {
        continued = true;
      } else {
        if (initial == '(' || initial == '[' || initial == '{')
          ++parenlev;
        else if (initial == ')' || initial == ']' || initial == '}')
          --parenlev;
        r.emit(Tok::OP, token, lnum, ls, lnum, le);
      }
    }
  }
  if (!last_line.empty() && last_line.back() != '\r' && last_line.back() != '\n' &&
      !py_strip_startswith_hash(last_line)) {
    const long n = static_cast<long>(last_line.size());
    r.emit(Tok::NEWLINE, UV{}, lnum - 1, n, lnum - 1, n + 1);
  }
  for (size_t k = 1; k < indents.size(); ++k) r.emit(Tok::DEDENT, UV{}, lnum, 0, lnum, 0);
  r.emit(Tok::ENDMARKER, UV{}, lnum, 0, lnum, 0);
}

}  // namespace

std::string remove_comments_and_docstrings(std::string_view code, bool* ok) {
  const U src = cb::utf8_decode(code);
  Remover r;
  try {
    tokenize(src, r);
  } catch (const TokenizeFailed&) {
    if (ok) *ok = false;
    return std::string(code);
  }
  if (ok) *ok = true;
  // Keep the lines that are not blank (str.strip() != ""), joined by "\n".
  std::string out;
  bool first = true;
  size_t b = 0;
  const U& s = r.out;
  for (size_t i = 0; i <= s.size(); ++i) {
    if (i == s.size() || s[i] == '\n') {
      UV l(s.data() + b, i - b);
      bool blank = std::all_of(l.begin(), l.end(), [](char32_t c) { return cb::py_isspace(c); });
      if (!blank) {
        if (!first) out.push_back('\n');
        for (char32_t c : l) cb::utf8_append(out, c);
        first = false;
      }
      b = i + 1;
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// CPython 3.11: hash(str) = siphash13 over the PEP 393 buffer (1, 2 or 4 bytes per character),
// key (0, 0) under PYTHONHASHSEED=0; set insertion with linear probes then perturbation.
namespace {

inline uint64_t rotl(uint64_t x, int b) { return (x << b) | (x >> (64 - b)); }

uint64_t siphash13(uint64_t k0, uint64_t k1, const uint8_t* in, size_t size) {
  uint64_t b = static_cast<uint64_t>(size) << 56;
  uint64_t v0 = k0 ^ 0x736f6d6570736575ULL, v1 = k1 ^ 0x646f72616e646f6dULL;
  uint64_t v2 = k0 ^ 0x6c7967656e657261ULL, v3 = k1 ^ 0x7465646279746573ULL;
  auto round = [&] {
    v0 += v1;
    v1 = rotl(v1, 13);
    v1 ^= v0;
    v0 = rotl(v0, 32);
    v2 += v3;
    v3 = rotl(v3, 16);
    v3 ^= v2;
    v0 += v3;
    v3 = rotl(v3, 21);
    v3 ^= v0;
    v2 += v1;
    v1 = rotl(v1, 17);
    v1 ^= v2;
    v2 = rotl(v2, 32);
  };
  while (size >= 8) {
    uint64_t mi = 0;
    for (int k = 0; k < 8; ++k) mi |= static_cast<uint64_t>(in[k]) << (8 * k);
    in += 8;
    size -= 8;
    v3 ^= mi;
    round();
    v0 ^= mi;
  }
  uint64_t t = 0;
  for (size_t k = 0; k < size; ++k) t |= static_cast<uint64_t>(in[k]) << (8 * k);
  b |= t;
  v3 ^= b;
  round();
  v0 ^= b;
  v2 ^= 0xff;
  round();
  round();
  round();
  return (v0 ^ v1) ^ (v2 ^ v3);
}

}  // namespace

int64_t python_str_hash_seed0(std::string_view utf8) {
  const std::u32string cps = cb::utf8_decode(utf8);
  if (cps.empty()) return 0;
  char32_t maxc = 0;
  for (char32_t c : cps) maxc = std::max(maxc, c);
  const size_t kind = maxc < 256 ? 1 : maxc < 65536 ? 2 : 4;
  std::vector<uint8_t> buf(cps.size() * kind);
  for (size_t i = 0; i < cps.size(); ++i)
    for (size_t k = 0; k < kind; ++k) buf[i * kind + k] = static_cast<uint8_t>(cps[i] >> (8 * k));
  int64_t h = static_cast<int64_t>(siphash13(0, 0, buf.data(), buf.size()));
  return h == -1 ? -2 : h;
}

namespace cb {

std::vector<int> py_set_order_ids(const std::vector<int>& items, const std::vector<int64_t>& hashes) {
  constexpr size_t kLinearProbes = 9, kPerturbShift = 5;
  struct Entry {
    int key = -1;
    int64_t hash = 0;
  };
  std::vector<Entry> table(8);
  size_t mask = 7, fill = 0;
  auto insert_clean = [](std::vector<Entry>& t, size_t m, int key, int64_t hash) {
    size_t perturb = static_cast<size_t>(hash), i = static_cast<size_t>(hash) & m;
    for (;;) {
      if (t[i].key < 0) {
        t[i] = {key, hash};
        return;
      }
      if (i + kLinearProbes <= m) {
        for (size_t j = 1; j <= kLinearProbes; ++j)
          if (t[i + j].key < 0) {
            t[i + j] = {key, hash};
            return;
          }
      }
      perturb >>= kPerturbShift;
      i = (i * 5 + 1 + perturb) & m;
    }
  };
  for (int key : items) {
    const int64_t hash = hashes[key];
    size_t perturb = static_cast<size_t>(hash), i = static_cast<size_t>(hash) & mask;
    bool found = false, placed = false;
    while (!found && !placed) {
      size_t probes = (i + kLinearProbes <= mask) ? kLinearProbes : 0;
      for (size_t j = 0; j <= probes; ++j) {
        Entry& e = table[i + j];
        if (e.key < 0) {
          e = {key, hash};
          placed = true;
          break;
        }
        if (e.key == key) {
          found = true;
          break;
        }
      }
      if (found || placed) break;
      perturb >>= kPerturbShift;
      i = (i * 5 + 1 + perturb) & mask;
    }
    if (!placed) continue;
    ++fill;
    if (fill * 5 >= mask * 3) {  // set_table_resize(so, used > 50000 ? used * 2 : used * 4)
      const size_t minused = fill > 50000 ? fill * 2 : fill * 4;
      size_t newsize = 8;
      while (newsize <= minused) newsize <<= 1;
      std::vector<Entry> nt(newsize);
      for (const Entry& e : table)
        if (e.key >= 0) insert_clean(nt, newsize - 1, e.key, e.hash);
      table.swap(nt);
      mask = newsize - 1;
    }
  }
  std::vector<int> out;
  out.reserve(fill);
  for (const Entry& e : table)
    if (e.key >= 0) out.push_back(e.key);
  return out;
}

}  // namespace cb

std::vector<std::string> python_set_order(const std::vector<std::string>& items) {
  std::vector<std::string> names;
  std::vector<int64_t> hashes;
  std::vector<int> ids;
  for (const std::string& s : items) {
    auto it = std::find(names.begin(), names.end(), s);
    if (it == names.end()) {
      names.push_back(s);
      hashes.push_back(python_str_hash_seed0(s));
      ids.push_back(static_cast<int>(names.size()) - 1);
    } else {
      ids.push_back(static_cast<int>(it - names.begin()));
    }
  }
  std::vector<std::string> out;
  for (int id : cb::py_set_order_ids(ids, hashes)) out.push_back(names[id]);
  return out;
}

}  // namespace mtk::metrics
