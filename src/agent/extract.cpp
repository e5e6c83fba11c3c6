// API names used by a piece of Python code, from its tree-sitter syntax tree (rules in retriever.hpp).
#include <cctype>
#include <cstring>
#include <map>
#include <set>

#include "mtk/agent/retriever.hpp"
#include "mtk/data/python_syntax.hpp"

namespace mtk::agent {

namespace {

// The paper's exclusions (builtins, helper modules, Scene plumbing), then the rest of Python's
// builtins and the common standard-library modules generated code imports.
const std::set<std::string> kExcluded = {
    "self", "print", "len", "range", "int", "str", "float", "list", "dict", "set", "tuple", "bool", "type",
    "object", "np", "math", "random", "add", "remove", "clear", "play", "wait", "show", "hide",
    // beyond the paper
    "abs", "all", "any", "ascii", "bin", "bytes", "callable", "chr", "complex", "delattr", "dir", "divmod",
    "enumerate", "eval", "exec", "filter", "format", "frozenset", "getattr", "globals", "hasattr", "hash", "hex",
    "id", "input", "isinstance", "issubclass", "iter", "locals", "map", "max", "min", "next", "oct", "open", "ord",
    "pow", "repr", "reversed", "round", "setattr", "slice", "sorted", "sum", "super", "vars", "zip", "numpy",
    "itertools", "functools", "os", "sys", "time", "cmath", "collections", "string", "scipy", "Exception"};

struct Extractor {
  std::set<std::string> calls, accesses;
  std::map<std::string, std::string> var_types;          // b1 -> Brace
  std::map<std::string, std::vector<std::string>> bases;  // class -> base names
  std::set<std::string> local_names;                     // defined by the code itself
  std::map<std::string, std::set<std::string>> own_members;  // class -> methods and self.X it defines

  std::string current_class;

  using Node = data::SyntaxNode;
  static std::string text(const Node& n) { return n ? std::string(n.text()) : std::string(); }
  static bool is(const Node& n, const char* type) { return n && std::strcmp(n.type(), type) == 0; }
  static Node field(const Node& n, const char* name) { return n ? n.child_by_field(name) : Node(); }

  // First pass: what each class of the code defines itself (methods, attributes assigned to self),
  // so that self.X of the code's own making is not taken for the base class's API.
  void collect_own(const Node& n, const std::string& cls) {
    if (!n) return;
    std::string inner = cls;
    if (is(n, "class_definition")) inner = text(field(n, "name"));
    if (!cls.empty() && is(n, "function_definition") && is(n.parent(), "block") &&
        is(n.parent().parent(), "class_definition"))
      own_members[cls].insert(text(field(n, "name")));
    if (!cls.empty() && (is(n, "assignment") || is(n, "augmented_assignment"))) {
      std::vector<Node> targets{field(n, "left")};
      if (is(targets[0], "pattern_list") || is(targets[0], "tuple_pattern")) targets = targets[0].named_children();
      for (const Node& t : targets)
        if (is(t, "attribute") && text(field(t, "object")) == "self") own_members[cls].insert(text(field(t, "attribute")));
    }
    for (const Node& c : n.named_children()) collect_own(c, inner);
  }

  // Dotted name of an expression (the paper's get_full_name); "" when it has none.
  std::string full_name(const Node& n) {
    if (is(n, "identifier")) return text(n);
    if (!is(n, "attribute")) return {};
    Node value = field(n, "object");
    std::string attr = text(field(n, "attribute"));
    if (is(value, "identifier")) {
      std::string v = text(value);
      if (v == "self" && !current_class.empty()) {
        auto own = own_members.find(current_class);
        if (own != own_members.end() && own->second.count(attr)) return "self." + attr;
        auto b = bases.find(current_class);
        if (b != bases.end() && !b->second.empty()) return b->second[0] + "." + attr;
        return "self." + attr;
      }
      auto t = var_types.find(v);
      return (t != var_types.end() ? t->second : v) + "." + attr;
    }
    if (is(value, "call")) {
      // Line(...).set_color -> Line.set_color; a.b.scale(...).move_to -> a.b.move_to (Manim's methods
      // return the mobject itself; the paper kept only the first part, losing a.b).
      std::string base = full_name(field(value, "function"));
      if (base.empty()) return {};
      size_t dot = base.rfind('.');
      return (dot == std::string::npos ? base : base.substr(0, dot)) + "." + attr;
    }
    if (is(value, "string") || is(value, "integer") || is(value, "float")) {
      std::string lit = text(value);
      if (is(value, "string")) {  // the literal's value, as Python's ast.Constant gives it
        size_t b = lit.find_first_of("'\"");
        if (b != std::string::npos) {
          char q = lit[b];
          size_t open = lit.find_first_not_of(q, b), close = lit.find_last_not_of(q);
          lit = open == std::string::npos || close < open ? std::string() : lit.substr(open, close - open + 1);
        }
      }
      return lit + "." + attr;
    }
    if (is(value, "attribute")) {
      std::string base = full_name(value);
      return base.empty() ? std::string() : base + "." + attr;
    }
    return {};
  }

  // The paper's _extract_variable_access: an attribute read, or a variable of known class.
  void variable_access(const Node& n) {
    if (is(n, "attribute")) {
      std::string f = full_name(n);
      if (!f.empty()) accesses.insert(f);
    } else if (is(n, "identifier")) {
      auto t = var_types.find(text(n));
      if (t != var_types.end()) accesses.insert(t->second);
    }
  }

  // Names bound by a target expression (a, (a, b), [a, *b]).
  void bind_targets(const Node& t) {
    if (is(t, "identifier")) {
      local_names.insert(text(t));
      return;
    }
    if (is(t, "pattern_list") || is(t, "tuple_pattern") || is(t, "list_pattern") || is(t, "tuple") ||
        is(t, "list") || is(t, "list_splat_pattern"))
      for (const Node& c : t.named_children()) bind_targets(c);
  }

  void visit_children(const Node& n) {
    for (const Node& c : n.named_children()) visit(c);
  }

  void visit(const Node& n) {
    if (!n) return;
    const char* type = n.type();
    if (!std::strcmp(type, "class_definition")) {
      std::string name = text(field(n, "name"));
      local_names.insert(name);
      std::vector<std::string> b;
      Node sup = field(n, "superclasses");
      if (sup)
        for (const Node& c : sup.named_children())
          if (is(c, "identifier")) b.push_back(text(c));
      bases[name] = b;
      std::string prev = current_class;
      current_class = name;
      visit(field(n, "body"));
      current_class = prev;
      return;
    }
    if (!std::strcmp(type, "function_definition")) {
      local_names.insert(text(field(n, "name")));
      Node params = field(n, "parameters");
      if (params)
        for (const Node& p : params.named_children()) {
          if (is(p, "identifier")) local_names.insert(text(p));
          else if (field(p, "name")) local_names.insert(text(field(p, "name")));
          else if (p.named_child_count() && is(p.named_child(0), "identifier")) local_names.insert(text(p.named_child(0)));
        }
      visit_children(n);
      return;
    }
    if (!std::strcmp(type, "assignment")) {
      Node left = field(n, "left"), right = field(n, "right");
      if (is(right, "call")) {
        Node fn = field(right, "function");
        // b1 = Brace(...) maps b1 to Brace. Beyond the paper, only class-like (capitalised) callees
        // map: graph = ax.plot(...) is not an Axes, and x = always_redraw(...) has no class name.
        std::string cls;
        if (is(fn, "identifier")) cls = text(fn);
        else if (is(fn, "attribute")) {  // manim.Circle(...) maps; nx.Graph(...) (another package) does not
          std::string chain = text(fn);
          std::string root = chain.substr(0, chain.find('.'));
          if (!local_names.count(root) && !kExcluded.count(root)) cls = text(field(fn, "attribute"));
        }
        if (!cls.empty() && !std::isupper((unsigned char)cls[0])) cls.clear();
        if (!cls.empty() && is(left, "identifier")) var_types[text(left)] = cls;
      }
      if (is(left, "attribute")) {
        std::string f = full_name(left);
        if (!f.empty()) accesses.insert(f);
      }
      bind_targets(left);
      if (right) variable_access(right);
      visit_children(n);
      return;
    }
    if (!std::strcmp(type, "for_statement") || !std::strcmp(type, "for_in_clause")) {
      bind_targets(field(n, "left"));
    } else if (!std::strcmp(type, "as_pattern_target") || !std::strcmp(type, "lambda_parameters")) {
      bind_targets(n.named_child(0));
    } else if (!std::strcmp(type, "aliased_import")) {
      local_names.insert(text(field(n, "alias")));
    } else if (!std::strcmp(type, "import_statement")) {
      for (const Node& c : n.named_children())
        if (is(c, "dotted_name")) {
          std::string m = text(c);
          local_names.insert(m.substr(0, m.find('.')));
        }
    } else if (!std::strcmp(type, "import_from_statement")) {
      Node mod = field(n, "module_name");
      if (mod && text(mod).rfind("manim", 0) != 0)
        for (const Node& c : n.named_children())
          if (is(c, "dotted_name") && c != mod) local_names.insert(text(c));
    } else if (!std::strcmp(type, "call")) {
      std::string f = full_name(field(n, "function"));
      if (!f.empty()) calls.insert(f);
      Node args = field(n, "arguments");
      if (is(args, "argument_list"))
        for (const Node& a : args.named_children()) variable_access(is(a, "keyword_argument") ? field(a, "value") : a);
    }
    visit_children(n);
  }

  bool keep(const std::string& name) const {
    std::string root = name.substr(0, name.find('.'));
    std::string rest = name.find('.') == std::string::npos ? name : name.substr(name.find('.') + 1);
    if (kExcluded.count(root) || kExcluded.count(rest)) return false;
    // Beyond the paper: names the code defines (its own classes, functions, variables of unknown
    // class, loop variables, imports from other packages) are not Manim's API.
    for (const auto& [var, cls] : var_types)
      if (var == root) return true;
    if (local_names.count(root) && !bases.count(root)) return false;
    if (bases.count(root)) return false;  // the code's own classes
    return true;
  }
};

}  // namespace

ExtractedNames extract_api_names(const std::string& code) {
  ExtractedNames out;
  if (code.empty()) return out;
  thread_local data::PythonParser parser;
  data::SyntaxTree tree = parser.parse(code);
  Extractor ex;
  ex.collect_own(tree.root(), "");
  ex.visit(tree.root());
  for (const auto& c : ex.calls)
    if (ex.keep(c)) out.calls.push_back(c);
  std::set<std::string> call_set(out.calls.begin(), out.calls.end());
  for (const auto& a : ex.accesses)
    if (ex.keep(a) && !call_set.count(a)) out.accesses.push_back(a);
  return out;
}

}  // namespace mtk::agent
