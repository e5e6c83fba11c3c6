#include "mtk/agent/retriever.hpp"

#include <functional>
#include <regex>
#include <set>
#include <sstream>

#include "mtk/agent/doc_index.hpp"

namespace mtk::agent {

namespace {


std::string format_call(const DocEntry& e) {
  return "- **" + e.name + "**: signature `" + (e.signature.empty() ? "()" : e.signature) + "` - " + e.doc + "\n";
}

std::string format_access(const DocEntry& e) {
  std::string kind = e.kind == "property" ? "property" : e.kind == "attribute" || e.kind == "constant" ? "attribute" : e.kind;
  std::string type = e.type.empty() ? "" : ": " + e.type;
  std::string doc = e.doc.empty() ? (e.type.empty() ? "" : "Value of type " + e.type + ".") : e.doc;
  if (e.kind == "class" || e.kind == "function" || e.kind == "method" || e.kind == "classmethod" ||
      e.kind == "staticmethod")
    return format_call(e);
  return "- **" + e.name + "** (" + kind + type + ") - " + doc + "\n";
}

std::string format_unknown(const std::string& name, const std::vector<std::string>& suggestions) {
  std::string s = "- NO DOCUMENTATION AVAILABLE FOR `" + name + "`. Refer to the render errors (if any) for details.";
  if (!suggestions.empty()) {
    s += " Closest real names: ";
    for (size_t i = 0; i < suggestions.size(); ++i) s += (i ? ", `" : "`") + suggestions[i] + "`";
    s += ".";
  }
  return s + "\n";
}

}  // namespace

std::vector<ErrorSymbol> symbols_from_error(const std::string& text) {
  std::vector<ErrorSymbol> out;
  std::set<std::string> seen;
  auto add = [&](ErrorSymbol s) {
    std::string k = s.kind + "|" + s.name + "|" + s.keyword;
    if (seen.insert(k).second) out.push_back(std::move(s));
  };
  static const std::regex name_re(R"(NameError: name '([A-Za-z_][A-Za-z0-9_]*)' is not defined)");
  static const std::regex attr_re(R"(AttributeError: '([A-Za-z_][A-Za-z0-9_]*)' object has no attribute '([A-Za-z_][A-Za-z0-9_]*)')");
  static const std::regex type_attr_re(R"(AttributeError: type object '([A-Za-z_][A-Za-z0-9_]*)' has no attribute '([A-Za-z_][A-Za-z0-9_]*)')");
  static const std::regex kw_re(R"(([A-Za-z_][A-Za-z0-9_.]*)\(\) got an unexpected keyword argument '([A-Za-z_][A-Za-z0-9_]*)')");
  static const std::regex missing_re(R"(([A-Za-z_][A-Za-z0-9_.]*)\(\) missing \d+ required (?:positional|keyword-only) arguments?: '([A-Za-z_][A-Za-z0-9_]*)')");
  static const std::regex import_re(R"(ImportError: cannot import name '([A-Za-z_][A-Za-z0-9_]*)')");
  auto scan = [&](const std::regex& re, const std::function<void(const std::smatch&)>& fn) {
    for (auto it = std::sregex_iterator(text.begin(), text.end(), re); it != std::sregex_iterator(); ++it) fn(*it);
  };
  scan(name_re, [&](const std::smatch& m) { add({m[1], "", "name"}); });
  scan(attr_re, [&](const std::smatch& m) { add({std::string(m[1]) + "." + std::string(m[2]), "", "attribute"}); });
  scan(type_attr_re, [&](const std::smatch& m) { add({std::string(m[1]) + "." + std::string(m[2]), "", "attribute"}); });
  auto callable_name = [](std::string n) {
    // "Mobject.__init__" -> "Mobject"; "Circle.__init__" -> "Circle"
    const std::string init = ".__init__";
    if (n.size() > init.size() && n.compare(n.size() - init.size(), init.size(), init) == 0)
      n.resize(n.size() - init.size());
    return n;
  };
  scan(kw_re, [&](const std::smatch& m) { add({callable_name(m[1]), m[2], "keyword"}); });
  scan(missing_re, [&](const std::smatch& m) { add({callable_name(m[1]), m[2], "missing_argument"}); });
  scan(import_re, [&](const std::smatch& m) { add({m[1], "", "import"}); });
  return out;
}

Retriever::Retriever(std::shared_ptr<const DocIndex> index, RetrieverOptions opt)
    : index_(std::move(index)), opt_(opt) {}

Retrieval Retriever::retrieve(const std::string& code, const std::string& error_text) const {
  Retrieval r;
  std::string error_part, access_part, call_part;
  std::set<std::string> covered;
  auto suggestions_for = [&](const std::string& name) {
    return opt_.suggestions ? index_->suggest(name, opt_.max_suggestions) : std::vector<std::string>{};
  };

  if (opt_.error_docs && !error_text.empty()) {
    for (const auto& s : symbols_from_error(error_text)) {
      r.error_symbols.push_back(s.name);
      auto e = index_->lookup(s.name);
      if (s.kind == "keyword" || s.kind == "missing_argument") {
        if (!e) continue;
        covered.insert(s.name);
        auto params = DocIndex::parameter_names(e->signature);
        std::string line = "- RENDER ERROR: `" + s.name + "` " +
                           (s.kind == "keyword" ? "has no parameter `" + s.keyword + "`"
                                                : "needs the argument `" + s.keyword + "`") +
                           ". Its parameters: ";
        for (size_t i = 0; i < params.size(); ++i) line += (i ? ", `" : "`") + params[i] + "`";
        if (params.empty()) line += "(none besides **kwargs)";
        line += ".";
        if (s.kind == "keyword") {
          std::string best;
          double best_s = 0.55;
          for (const auto& p : params)
            if (double sim = name_similarity(s.keyword, p); sim > best_s) best_s = sim, best = p;
          if (!best.empty()) line += " Did you mean `" + best + "`?";
        }
        error_part += line + "\n" + format_call(*e);
        r.documented.push_back(s.name);
      } else if (e) {
        covered.insert(s.name);
        error_part += format_access(*e);
        r.documented.push_back(s.name);
      } else {
        covered.insert(s.name);
        auto sug = suggestions_for(s.name);
        error_part += "- RENDER ERROR: `" + s.name + "` does not exist in Manim " + index_->manim_version() + ".";
        if (!sug.empty()) {
          error_part += " Closest real names:";
          for (const auto& n : sug) error_part += " `" + n + "`";
          error_part += "\n";
          for (const auto& n : sug)
            if (auto se = index_->lookup(n)) error_part += format_access(*se);
        } else {
          error_part += "\n";
        }
        r.undocumented.push_back(s.name);
      }
    }
  }

  ExtractedNames names = extract_api_names(code);
  for (const auto& n : names.accesses) {
    if (covered.count(n)) continue;
    if (auto e = index_->lookup(n)) {
      access_part += format_access(*e);
      r.documented.push_back(n);
    } else {
      access_part += format_unknown(n, suggestions_for(n));
      r.undocumented.push_back(n);
    }
  }
  for (const auto& n : names.calls) {
    if (covered.count(n)) continue;
    if (auto e = index_->lookup(n)) {
      call_part += format_call(*e) + "\n";
      r.documented.push_back(n);
    } else {
      call_part += format_unknown(n, suggestions_for(n)) + "\n";
      r.undocumented.push_back(n);
    }
  }
  // As the paper: attributes first, a blank line, then the calls (each followed by a blank line).
  r.api_info = error_part + (error_part.empty() ? "" : "\n") + access_part + "\n" + call_part;
  while (!r.api_info.empty() && (r.api_info.back() == '\n' || r.api_info.back() == ' ')) r.api_info.pop_back();
  size_t b = r.api_info.find_first_not_of('\n');
  r.api_info = b == std::string::npos ? "" : r.api_info.substr(b);
  if (opt_.max_chars && r.api_info.size() > opt_.max_chars) {
    r.api_info.resize(opt_.max_chars);
    r.api_info += "\n[... API documentation cut at " + std::to_string(opt_.max_chars) + " characters]";
  }
  return r;
}

}  // namespace mtk::agent
