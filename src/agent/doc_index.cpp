#include "mtk/agent/doc_index.hpp"

#include <algorithm>
#include <cctype>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "mtk/core/error.hpp"
#include "mtk/core/fs.hpp"
#include "mtk/core/strings.hpp"
#include "mtk/render/render.hpp"

namespace mtk::agent {

using json = nlohmann::json;

namespace {

struct Member {
  std::string kind, signature, doc, type;
};

struct ClassInfo {
  std::string module, signature, doc;
  std::vector<std::string> bases;
  std::map<std::string, Member> members;
  std::map<std::string, std::string> instance_attributes;
};

struct Symbol {
  std::string kind, module, signature, doc, type;
};

std::vector<std::string> split_dots(const std::string& s) {
  std::vector<std::string> parts;
  size_t b = 0;
  while (true) {
    size_t e = s.find('.', b);
    parts.push_back(s.substr(b, e == std::string::npos ? std::string::npos : e - b));
    if (e == std::string::npos) break;
    b = e + 1;
  }
  return parts;
}


size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j)
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

}  // namespace

double name_similarity(const std::string& a0, const std::string& b0) {
  std::string a = lower(a0), b = lower(b0);
  if (a.empty() && b.empty()) return 1.0;
  double d = double(edit_distance(a, b));
  double s = 1.0 - d / double(std::max(a.size(), b.size()));
  size_t prefix = 0;
  while (prefix < a.size() && prefix < b.size() && a[prefix] == b[prefix]) ++prefix;
  s += 0.05 * std::min<size_t>(prefix, 4);
  if (a.size() >= 3 && b.size() >= 3 && (a.find(b) != std::string::npos || b.find(a) != std::string::npos)) s += 0.1;
  return std::min(s, 1.0);
}

struct DocIndex::Impl {
  std::string version;
  std::map<std::string, Symbol> symbols;
  std::map<std::string, ClassInfo> classes;

  // The class a resolved entry leads to when another attribute follows.
  std::string type_of_symbol(const std::string& name) const {
    auto s = symbols.find(name);
    if (s != symbols.end()) {
      if (s->second.kind == "class") return name;
      if (s->second.kind == "constant") return s->second.type;
      return {};
    }
    if (classes.count(name)) return name;
    return {};
  }

  // Finds `member` in class `cls` or its bases: (owner, member).
  std::optional<std::pair<std::string, Member>> find_member(const std::string& cls, const std::string& member) const {
    auto c = classes.find(cls);
    if (c == classes.end()) return std::nullopt;
    std::vector<std::string> chain{cls};
    chain.insert(chain.end(), c->second.bases.begin(), c->second.bases.end());
    for (const auto& k : chain) {
      auto ci = classes.find(k);
      if (ci == classes.end()) continue;
      auto m = ci->second.members.find(member);
      if (m != ci->second.members.end()) {
        Member found = m->second;
        if (found.type.empty())  // a property without annotation: the type its value had on an instance
          for (const auto& k2 : chain)
            if (auto c2 = classes.find(k2); c2 != classes.end())
              if (auto a = c2->second.instance_attributes.find(member); a != c2->second.instance_attributes.end()) {
                found.type = a->second;
                break;
              }
        return std::make_pair(k, found);
      }
    }
    for (const auto& k : chain) {
      auto ci = classes.find(k);
      if (ci == classes.end()) continue;
      auto a = ci->second.instance_attributes.find(member);
      if (a != ci->second.instance_attributes.end())
        return std::make_pair(k, Member{"attribute", "", "", a->second});
    }
    return std::nullopt;
  }

  // A member the static type lacks but a subclass defines (dynamic values: a Camera attribute that
  // holds a ThreeDCamera, an Animation's mobject that is a ValueTracker): the first subclass, in
  // name order, that has it.
  std::optional<std::pair<std::string, Member>> find_in_subclasses(const std::string& cls, const std::string& member) const {
    for (const auto& [name, info] : classes) {
      if (std::find(info.bases.begin(), info.bases.end(), cls) == info.bases.end()) continue;
      if (auto m = find_member(name, member)) return m;
    }
    return std::nullopt;
  }

  // Every member name visible on a class (for suggestions).
  std::set<std::string> member_names(const std::string& cls) const {
    std::set<std::string> out;
    auto c = classes.find(cls);
    if (c == classes.end()) return out;
    std::vector<std::string> chain{cls};
    chain.insert(chain.end(), c->second.bases.begin(), c->second.bases.end());
    for (const auto& k : chain) {
      auto ci = classes.find(k);
      if (ci == classes.end()) continue;
      for (const auto& [n, m] : ci->second.members) out.insert(n);
      for (const auto& [n, t] : ci->second.instance_attributes) out.insert(n);
    }
    return out;
  }
};

DocIndex::DocIndex() : impl_(std::make_unique<Impl>()) {}
DocIndex::~DocIndex() = default;

std::filesystem::path DocIndex::default_path() {
  std::string v = render::manim_version(fs::manim_python());
  return fs::project_root() / "data" / "doc_index" / ("manim-" + v + ".json");
}

std::shared_ptr<const DocIndex> DocIndex::load(const std::filesystem::path& path) {
  const std::string fix = "build it with: .venv/bin/python scripts/build_doc_index.py --out " + path.string() +
                          " (scripts/setup.sh does this)";
  if (!std::filesystem::is_regular_file(path)) throw Error("Manim API doc index " + path.string() + " not found", fix);
  json j;
  try {
    j = json::parse(fs::read_file(path));
  } catch (const json::exception& e) {
    throw Error("Manim API doc index " + path.string() + " is not valid JSON (" + e.what() + ")", fix);
  }
  std::shared_ptr<DocIndex> idx(new DocIndex());
  auto& im = *idx->impl_;
  try {
    if (j.value("format", 0) != 1) throw Error("Manim API doc index " + path.string() + " has an unknown format", fix);
    im.version = j.at("manim_version").get<std::string>();
    for (const auto& [name, e] : j.at("symbols").items())
      im.symbols[name] = Symbol{e.value("kind", ""), e.value("module", ""), e.value("signature", ""),
                                e.value("doc", ""), e.value("type", "")};
    for (const auto& [name, e] : j.at("classes").items()) {
      ClassInfo c;
      c.module = e.value("module", "");
      c.signature = e.value("signature", "");
      c.doc = e.value("doc", "");
      c.bases = e.value("bases", std::vector<std::string>{});
      if (e.contains("members"))
        for (const auto& [mn, m] : e["members"].items())
          c.members[mn] = Member{m.value("kind", ""), m.value("signature", ""), m.value("doc", ""), m.value("type", "")};
      if (e.contains("instance_attributes"))
        for (const auto& [an, t] : e["instance_attributes"].items()) c.instance_attributes[an] = t.get<std::string>();
      im.classes[name] = std::move(c);
    }
  } catch (const json::exception& e) {
    throw Error("Manim API doc index " + path.string() + " is malformed (" + e.what() + ")", fix);
  }
  return idx;
}

bool DocIndex::knows_root(const std::string& name) const {
  return impl_->symbols.count(name) || impl_->classes.count(name);
}

std::optional<DocEntry> DocIndex::lookup(const std::string& dotted) const {
  const auto& im = *impl_;
  auto parts = split_dots(dotted);
  if (parts.empty() || parts[0].empty()) return std::nullopt;
  DocEntry cur;
  cur.name = dotted;
  std::string type;  // class that the next attribute is looked up in
  size_t i = 1;
  auto s = im.symbols.find(parts[0]);
  if (s != im.symbols.end()) {
    const auto& sym = s->second;
    cur.kind = sym.kind;
    cur.signature = sym.signature;
    cur.doc = sym.doc;
    cur.type = sym.type;
    if (sym.kind == "module" && parts.size() > 1) {
      // rate_functions.smooth, config-like modules: their public names are top-level symbols too.
      auto inner = im.symbols.find(parts[1]);
      if (inner == im.symbols.end()) return std::nullopt;
      cur.kind = inner->second.kind;
      cur.signature = inner->second.signature;
      cur.doc = inner->second.doc;
      cur.type = inner->second.type;
      type = im.type_of_symbol(parts[1]);
      i = 2;
    } else {
      type = im.type_of_symbol(parts[0]);
    }
  } else if (auto c = im.classes.find(parts[0]); c != im.classes.end()) {
    cur.kind = "class";
    cur.signature = c->second.signature;
    cur.doc = c->second.doc;
    type = parts[0];
  } else {
    return std::nullopt;
  }
  for (; i < parts.size(); ++i) {
    // An attribute whose class is unknown (self.label = label) is, in Manim, nearly always a mobject.
    if (type.empty() && (cur.kind == "attribute" || cur.kind == "property")) type = "Mobject";
    if (type.empty()) return std::nullopt;
    auto m = im.find_member(type, parts[i]);
    if (!m) m = im.find_in_subclasses(type, parts[i]);
    if (!m) return std::nullopt;
    cur.owner = m->first;
    cur.kind = m->second.kind;
    cur.signature = m->second.signature;
    cur.doc = m->second.doc;
    cur.type = m->second.type;
    if (parts[i] == "animate" || parts[i] == "target") {
      // mobject.animate.method(...): the animation builder forwards methods to the mobject's class;
      // mobject.target (after generate_target) is a copy of the mobject.
      continue;
    }
    if (cur.kind == "attribute" || cur.kind == "property") {
      type = im.classes.count(cur.type) ? cur.type : std::string();
      if (cur.doc.empty() && !type.empty()) cur.doc = im.classes.at(type).doc;
    } else if (cur.kind == "class") {
      type = parts[i];
    } else {
      type.clear();
    }
  }
  return cur;
}

std::vector<std::string> DocIndex::suggest(const std::string& dotted, size_t n) const {
  const auto& im = *impl_;
  auto parts = split_dots(dotted);
  // Resolve the longest known prefix, then rank the candidates for the next part.
  size_t k = parts.size();
  std::string prefix;
  std::set<std::string> candidates;
  while (k > 0) {
    std::string head;
    for (size_t i = 0; i + 1 < k; ++i) head += (i ? "." : "") + parts[i];
    if (k == 1) {
      for (const auto& [name, s] : im.symbols) candidates.insert(name);
      for (const auto& [name, c] : im.classes)
        if (!name.empty() && name[0] != '_') candidates.insert(name);
      break;
    }
    auto e = lookup(head);
    if (e) {
      std::string type;
      if (e->kind == "class") type = split_dots(head).back();
      else if (e->kind == "constant" || e->kind == "attribute" || e->kind == "property") type = e->type;
      if (auto s = im.symbols.find(head); s != im.symbols.end() && s->second.kind == "class") type = head;
      candidates = im.member_names(type);
      prefix = head + ".";
      break;
    }
    --k;
  }
  const std::string& target = parts[k - 1];
  std::vector<std::pair<double, std::string>> scored;
  for (const auto& c : candidates) {
    if (c.empty() || c[0] == '_') continue;
    double s = name_similarity(target, c);
    if (s >= 0.5) scored.push_back({-s, c});
  }
  std::sort(scored.begin(), scored.end());
  std::vector<std::string> out;
  for (size_t i = 0; i < scored.size() && out.size() < n; ++i) out.push_back(prefix + scored[i].second);
  return out;
}

std::vector<std::string> DocIndex::parameter_names(const std::string& sig) {
  std::vector<std::string> out;
  if (sig.empty() || sig[0] != '(') return out;
  int depth = 0;
  std::string cur;
  bool in_str = false;
  char quote = 0;
  auto flush = [&] {
    std::string p = cur;
    cur.clear();
    size_t b = p.find_first_not_of(" ");
    if (b == std::string::npos) return;
    p = p.substr(b);
    size_t e = p.find_first_of(":=");
    std::string name = p.substr(0, e);
    while (!name.empty() && name.back() == ' ') name.pop_back();
    if (name.empty() || name[0] == '*' || name == "/" || name == "self" || name == "cls") return;
    out.push_back(name);
  };
  for (size_t i = 1; i < sig.size(); ++i) {
    char c = sig[i];
    if (in_str) {
      if (c == quote) in_str = false;
      cur += c;
      continue;
    }
    if (c == '\'' || c == '"') {
      in_str = true;
      quote = c;
      cur += c;
    } else if (c == '(' || c == '[' || c == '{') {
      ++depth;
      cur += c;
    } else if (c == ')' || c == ']' || c == '}') {
      if (depth == 0) {
        flush();
        break;
      }
      --depth;
      cur += c;
    } else if (c == ',' && depth == 0) {
      flush();
    } else {
      cur += c;
    }
  }
  return out;
}

const std::string& DocIndex::manim_version() const { return impl_->version; }
size_t DocIndex::symbol_count() const { return impl_->symbols.size(); }

}  // namespace mtk::agent
