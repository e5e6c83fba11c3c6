#include "mtk/render/scenes.hpp"

#include <algorithm>
#include <map>
#include <set>

namespace mtk::render {

namespace {

struct Tok {
  enum Kind { Name, Op, Newline, Other } kind;
  std::string text;
  int line;
  bool first;  // first token of a logical line
  int col;     // column of the token on its physical line
};

bool is_ident_start(unsigned char c) { return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c >= 0x80; }
bool is_ident_char(unsigned char c) { return is_ident_start(c) || (c >= '0' && c <= '9'); }

bool is_string_prefix(const std::string& s) {
  if (s.size() > 2) return false;
  for (char c : s)
    if (std::string_view("rRbBuUfF").find(c) == std::string_view::npos) return false;
  return true;
}

std::vector<Tok> tokenize(const std::string& src) {
  std::vector<Tok> toks;
  const size_t n = src.size();
  size_t i = 0, line_begin = 0;
  int line = 1, depth = 0;
  bool logical_start = true;
  auto newline = [&](size_t next) {
    ++line;
    line_begin = next;
    if (depth == 0) {
      if (!toks.empty() && toks.back().kind != Tok::Newline) toks.push_back({Tok::Newline, "", line - 1, false, 0});
      logical_start = true;
    }
  };
  auto emit = [&](Tok::Kind k, std::string text, size_t at, int at_line) {
    toks.push_back({k, std::move(text), at_line, logical_start, static_cast<int>(at - line_begin)});
    logical_start = false;
  };
  auto skip_string = [&](size_t q) {  // q at the opening quote; returns past the closing quote
    char quote = src[q];
    bool triple = q + 2 < n && src[q + 1] == quote && src[q + 2] == quote;
    size_t j = q + (triple ? 3 : 1);
    while (j < n) {
      char c = src[j];
      if (c == '\\') {
        if (j + 1 < n && src[j + 1] == '\n') {
          ++line;
          line_begin = j + 2;
        }
        j += 2;
        continue;
      }
      if (triple) {
        if (c == quote && j + 2 < n && src[j + 1] == quote && src[j + 2] == quote) return j + 3;
        if (c == '\n') {
          ++line;
          line_begin = j + 1;
        }
      } else {
        if (c == quote) return j + 1;
        if (c == '\n' || c == '\r') return j;  // unterminated: the string ends with the line
      }
      ++j;
    }
    return n;
  };

  while (i < n) {
    unsigned char c = static_cast<unsigned char>(src[i]);
    if (c == '\n') {
      newline(i + 1);
      ++i;
    } else if (c == '\r') {
      if (i + 1 < n && src[i + 1] == '\n') {
        ++i;
        continue;
      }
      newline(i + 1);
      ++i;
    } else if (c == ' ' || c == '\t' || c == '\f' || c == '\v') {
      ++i;
    } else if (c == '\\') {  // explicit line joining
      size_t j = i + 1;
      if (j < n && src[j] == '\r') ++j;
      if (j < n && src[j] == '\n') {
        ++line;
        line_begin = j + 1;
        i = j + 1;
      } else {
        ++i;
      }
    } else if (c == '#') {
      while (i < n && src[i] != '\n' && src[i] != '\r') ++i;
    } else if (c == '"' || c == '\'') {
      int l0 = line;
      size_t s = i;
      i = skip_string(i);
      emit(Tok::Other, "<str>", s, l0);
    } else if (is_ident_start(c)) {
      size_t s = i;
      while (i < n && is_ident_char(static_cast<unsigned char>(src[i]))) ++i;
      std::string word = src.substr(s, i - s);
      if (i < n && (src[i] == '"' || src[i] == '\'') && is_string_prefix(word)) {
        int l0 = line;
        i = skip_string(i);
        emit(Tok::Other, "<str>", s, l0);
      } else {
        emit(Tok::Name, std::move(word), s, line);
      }
    } else if (c >= '0' && c <= '9') {
      size_t s = i;
      while (i < n && (is_ident_char(static_cast<unsigned char>(src[i])) || src[i] == '.')) ++i;
      emit(Tok::Other, src.substr(s, i - s), s, line);
    } else {
      if (c == '(' || c == '[' || c == '{') ++depth;
      if ((c == ')' || c == ']' || c == '}') && depth > 0) --depth;
      emit(Tok::Op, std::string(1, static_cast<char>(c)), i, line);
      ++i;
    }
  }
  return toks;
}

bool is_op(const Tok& t, char c) { return t.kind == Tok::Op && t.text.size() == 1 && t.text[0] == c; }

// The base name of one argument of a class header: the last component of a leading dotted name.
std::string base_name(const std::vector<Tok>& toks, size_t b, size_t e) {
  if (b >= e || toks[b].kind != Tok::Name) return {};
  for (size_t k = b; k < e; ++k)
    if (is_op(toks[k], '=') && !(k + 1 < e && is_op(toks[k + 1], '='))) return {};  // keyword argument
  std::string last = toks[b].text;
  size_t k = b + 1;
  while (k + 1 < e && is_op(toks[k], '.') && toks[k + 1].kind == Tok::Name) {
    last = toks[k + 1].text;
    k += 2;
  }
  return last;
}

bool known_scene_base(const std::string& b) {
  static const std::set<std::string> kKnown = {"Scene",       "ThreeDScene",
                                               "MovingCameraScene", "ZoomedScene",
                                               "VectorScene",       "LinearTransformationScene",
                                               "SpecialThreeDScene"};
  return kKnown.count(b) || (b.size() > 5 && b.compare(b.size() - 5, 5, "Scene") == 0);
}

struct SceneInfo {
  std::vector<PyClass> classes;  // deduplicated: the last definition of a name wins
  std::vector<bool> scene;
};

SceneInfo analyse(const std::string& code) {
  SceneInfo info;
  auto all = scan_classes(code);
  std::map<std::string, size_t> last;
  for (size_t i = 0; i < all.size(); ++i) last[all[i].name] = i;
  for (size_t i = 0; i < all.size(); ++i)
    if (last[all[i].name] == i) info.classes.push_back(all[i]);
  std::map<std::string, size_t> index;
  for (size_t i = 0; i < info.classes.size(); ++i) index[info.classes[i].name] = i;
  info.scene.assign(info.classes.size(), false);
  for (bool changed = true; changed;) {
    changed = false;
    for (size_t i = 0; i < info.classes.size(); ++i) {
      if (info.scene[i]) continue;
      for (const auto& b : info.classes[i].bases) {
        auto it = index.find(b);
        bool yes = (it != index.end() && it->second != i) ? info.scene[it->second] : known_scene_base(b);
        if (yes) {
          info.scene[i] = changed = true;
          break;
        }
      }
    }
  }
  return info;
}

}  // namespace

std::vector<PyClass> scan_classes(const std::string& code) {
  std::vector<PyClass> out;
  auto toks = tokenize(code);
  for (size_t i = 0; i + 1 < toks.size(); ++i) {
    const Tok& t = toks[i];
    if (t.kind != Tok::Name || t.text != "class" || !t.first || t.col != 0) continue;
    if (toks[i + 1].kind != Tok::Name) continue;
    PyClass pc;
    pc.name = toks[i + 1].text;
    pc.line = t.line;
    size_t k = i + 2;
    if (k < toks.size() && is_op(toks[k], '(')) {
      int depth = 0;
      size_t arg_begin = k + 1;
      for (; k < toks.size(); ++k) {
        const Tok& u = toks[k];
        if (u.kind == Tok::Op && (u.text == "(" || u.text == "[" || u.text == "{")) {
          ++depth;
        } else if (u.kind == Tok::Op && (u.text == ")" || u.text == "]" || u.text == "}")) {
          if (--depth == 0) {
            auto b = base_name(toks, arg_begin, k);
            if (!b.empty()) pc.bases.push_back(b);
            ++k;
            break;
          }
        } else if (depth == 1 && is_op(u, ',')) {
          auto b = base_name(toks, arg_begin, k);
          if (!b.empty()) pc.bases.push_back(b);
          arg_begin = k + 1;
        } else if (u.kind == Tok::Newline) {
          break;  // unbalanced header
        }
      }
    }
    if (k < toks.size() && is_op(toks[k], ':')) out.push_back(std::move(pc));
  }
  return out;
}

std::vector<std::string> detect_scenes(const std::string& code) {
  auto info = analyse(code);
  std::vector<std::string> out;
  for (size_t i = 0; i < info.classes.size(); ++i)
    if (info.scene[i]) out.push_back(info.classes[i].name);
  return out;
}

std::string choose_scene(const std::string& code) {
  auto info = analyse(code);
  std::set<std::string> scenes, bases;
  for (size_t i = 0; i < info.classes.size(); ++i)
    if (info.scene[i]) scenes.insert(info.classes[i].name);
  for (size_t i = 0; i < info.classes.size(); ++i)
    if (info.scene[i])
      for (const auto& b : info.classes[i].bases)
        if (b != info.classes[i].name && scenes.count(b)) bases.insert(b);
  std::string fallback;
  for (size_t i = info.classes.size(); i-- > 0;) {
    if (!info.scene[i]) continue;
    if (fallback.empty()) fallback = info.classes[i].name;
    if (!bases.count(info.classes[i].name)) return info.classes[i].name;
  }
  return fallback;
}

}  // namespace mtk::render
