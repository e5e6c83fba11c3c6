#pragma once
// The CodeBLEU parity pairs (shared by tests/metrics/test_codebleu.cpp and bench/bench_codebleu.cpp):
// real ManimBench reference code against itself, other references, seeded token-level edits, code
// without data flow, and empty or syntactically invalid code. Deterministic (std::mt19937 raw
// outputs, which the standard fixes).
#include <nlohmann/json.hpp>

#include <cctype>
#include <fstream>
#include <random>
#include <string>
#include <utility>
#include <vector>

namespace mtk::testing {

struct CodePair {
  std::string kind;  // self / other / edit / nodataflow / empty / invalid
  std::string reference, hypothesis;
};

inline std::vector<std::string> load_manimbench_codes(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> codes;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    auto j = nlohmann::json::parse(line);
    std::string c = j.value("code", "");
    if (!c.empty()) codes.push_back(c);
  }
  return codes;
}

namespace detail {
// Splits code into tokens (identifiers/numbers, single punctuation, whitespace runs) so that the
// concatenation gives the code back.
inline std::vector<std::string> lex(const std::string& s) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < s.size()) {
    size_t j = i + 1;
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (std::isalnum(c) || c == '_' || c >= 0x80) {
      while (j < s.size() && (std::isalnum(static_cast<unsigned char>(s[j])) || s[j] == '_' ||
                              static_cast<unsigned char>(s[j]) >= 0x80))
        ++j;
    } else if (std::isspace(c)) {
      while (j < s.size() && std::isspace(static_cast<unsigned char>(s[j]))) ++j;
    }
    out.push_back(s.substr(i, j - i));
    i = j;
  }
  return out;
}
inline bool is_word(const std::string& t) {
  return !t.empty() && (std::isalpha(static_cast<unsigned char>(t[0])) || t[0] == '_');
}
inline std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& t : v) s += t;
  return s;
}
}  // namespace detail

// k seeded token-level edits: delete, duplicate, swap neighbours, rename an identifier (every
// occurrence, or one), change a number.
inline std::string edit_code(const std::string& code, std::mt19937& rng, int k) {
  auto toks = detail::lex(code);
  auto pick = [&](size_t n) { return n == 0 ? size_t(0) : static_cast<size_t>(rng() % n); };
  for (int e = 0; e < k && !toks.empty(); ++e) {
    std::vector<size_t> words, nonspace;
    for (size_t i = 0; i < toks.size(); ++i) {
      if (!std::isspace(static_cast<unsigned char>(toks[i][0]))) nonspace.push_back(i);
      if (detail::is_word(toks[i])) words.push_back(i);
    }
    if (nonspace.empty()) break;
    const size_t i = nonspace[pick(nonspace.size())];
    switch (rng() % 6) {
      case 0: toks.erase(toks.begin() + static_cast<long>(i)); break;
      case 1: toks.insert(toks.begin() + static_cast<long>(i), toks[i]); break;
      case 2: {
        const size_t j = nonspace[pick(nonspace.size())];
        std::swap(toks[i], toks[j]);
        break;
      }
      case 3:
        if (!words.empty()) {  // rename every occurrence of one identifier (data flow kept)
          const std::string from = toks[words[pick(words.size())]];
          const std::string to = from + "_r" + std::to_string(rng() % 10);
          for (auto& t : toks)
            if (t == from) t = to;
        }
        break;
      case 4:
        if (!words.empty()) toks[words[pick(words.size())]] = "v" + std::to_string(rng() % 5);
        break;
      default:
        if (std::isdigit(static_cast<unsigned char>(toks[i][0])))
          toks[i] = std::to_string(rng() % 100);
        else
          toks.insert(toks.begin() + static_cast<long>(i), std::to_string(rng() % 10));
        break;
    }
  }
  return detail::join(toks);
}

// Syntactically broken variants.
inline std::string break_code(const std::string& code, std::mt19937& rng) {
  const size_t n = code.size();
  switch (rng() % 8) {
    case 0: return code.substr(0, n / 3 + rng() % (n / 2 + 1));                       // truncated
    case 1: return code + "\n    foo(";                                               // unclosed paren
    case 2: return code.substr(0, n / 2) + ")" + code.substr(n / 2);                  // stray paren
    case 3: return code.substr(0, n / 2) + "\n  x = 1\n" + code.substr(n / 2);        // bad dedent
    case 4: return code.substr(0, n / 2) + " $ ? " + code.substr(n / 2);              // bad chars
    case 5: return code + "\ns = \"unterminated\n";                                   // open string
    case 6: return code.substr(0, n / 2) + "\"\"\"" + code.substr(n / 2);             // open docstring
    default: {
      std::string s = code;
      for (int k = 0; k < 5 && !s.empty(); ++k) s.erase(rng() % s.size(), 1);  // random deletions
      return s;
    }
  }
}

inline std::vector<CodePair> codebleu_pairs(const std::vector<std::string>& codes, size_t per_kind_scale = 1) {
  std::mt19937 rng(20240521);
  std::vector<CodePair> pairs;
  const size_t n = codes.size();
  auto code = [&](size_t i) -> const std::string& { return codes[i % n]; };
  const size_t S = per_kind_scale;
  for (size_t k = 0; k < 40 * S; ++k) pairs.push_back({"self", code(k * 7), code(k * 7)});
  for (size_t k = 0; k < 50 * S; ++k) pairs.push_back({"other", code(rng() % n), code(rng() % n)});
  for (size_t k = 0; k < 70 * S; ++k) {
    const std::string& c = code(rng() % n);
    pairs.push_back({"edit", c, edit_code(c, rng, 1 + static_cast<int>(rng() % 8))});
  }
  const std::vector<std::string> no_df = {
      "from manim import *",
      "import numpy as np\nfrom manim import *",
      "# only a comment\n",
      "\"\"\"A docstring only.\"\"\"",
      "print('hello')",
      "pass",
  };
  for (size_t k = 0; k < 20 * S; ++k) {
    const std::string& c = code(rng() % n);
    const std::string& d = no_df[k % no_df.size()];
    if (k % 3 == 0) pairs.push_back({"nodataflow", d, c});       // reference without data flow
    else if (k % 3 == 1) pairs.push_back({"nodataflow", c, d});  // hypothesis without data flow
    else pairs.push_back({"nodataflow", d, no_df[(k + 1) % no_df.size()]});
  }
  const std::vector<std::pair<std::string, std::string>> empties = {
      {"", ""}, {code(1), ""}, {"", code(2)}, {"   \n\t", code(3)}, {code(4), "\n\n"},
      {"", "x = 1"}, {"x = 1", ""}, {code(5), " "}, {"\n", "\n"}, {code(6), "# nothing"}};
  for (size_t k = 0; k < 10 * S; ++k) pairs.push_back({"empty", empties[k % 10].first, empties[k % 10].second});
  for (size_t k = 0; k < 30 * S; ++k) {
    const std::string& c = code(rng() % n);
    if (k % 2 == 0) pairs.push_back({"invalid", c, break_code(c, rng)});
    else pairs.push_back({"invalid", break_code(c, rng), c});
  }
  return pairs;
}

}  // namespace mtk::testing
