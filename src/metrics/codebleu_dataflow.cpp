// Data flow of CodeBLEU: the package's DFG_python, get_data_flow and normalize_dataflow, on the
// flattened tree-sitter tree. Written from the package's semantics (codebleu 0.7.0,
// codebleu/parser/DFG.py and codebleu/dataflow_match.py), including its quirks: tokens are cut out
// of the text with byte columns used as character indices, a failure anywhere (a missing field)
// drops the whole graph, names merged through Python sets (see CodeBleuOptions::SetOrder).
#include <algorithm>
#include <array>
#include <cstring>
#include <map>
#include <tuple>
#include <unordered_map>

#include "codebleu_internal.hpp"

namespace mtk::metrics::cb {
namespace {

using mtk::data::FlatSyntaxTree;

struct Edge {
  int name;
  int idx;
  bool computed;
  std::vector<int> par_names;
  std::vector<int> par_idx;
};
using States = std::unordered_map<int, std::vector<int>>;
struct DfgFailed {};  // a Python exception inside DFG_python (AttributeError on a missing field)

constexpr int kRecursionLimit = 985;  // Python's 1000 minus the frames below DFG_python

// What DFG_python asks of a node's type, decided once per grammar symbol instead of by strcmp at
// every visit (a symbol always has the same type string, aliases included).
enum Kind : uint8_t {
  k_other, k_comment, k_string_like, k_identifier, k_comma, k_default_parameter, k_assignment,
  k_augmented_assignment, k_for_in_clause, k_if_statement, k_for_statement, k_while_statement,
  k_elif_clause, k_else_clause, k_block
};
constexpr uint8_t kHasElse = 0x80;  // the type contains "else" (if_statement's tag)

uint8_t kind_of(const char* ty) {
  static const std::pair<const char*, Kind> table[] = {
      {"comment", k_comment}, {"string_literal", k_string_like}, {"string", k_string_like},
      {"character_literal", k_string_like}, {"identifier", k_identifier}, {",", k_comma},
      {"default_parameter", k_default_parameter}, {"assignment", k_assignment},
      {"augmented_assignment", k_augmented_assignment}, {"for_in_clause", k_for_in_clause},
      {"if_statement", k_if_statement}, {"for_statement", k_for_statement}, {"while_statement", k_while_statement},
      {"elif_clause", k_elif_clause}, {"else_clause", k_else_clause}, {"block", k_block}};
  uint8_t k = k_other;
  for (const auto& [name, kind] : table)
    if (std::strcmp(ty, name) == 0) k = kind;
  if (std::strstr(ty, "else")) k |= kHasElse;
  return k;
}

uint8_t symbol_kind(uint16_t symbol, const char* ty) {
  thread_local std::vector<int16_t> cache;
  if (symbol >= cache.size()) cache.resize(symbol + 1, -1);
  if (cache[symbol] < 0) cache[symbol] = kind_of(ty);
  return static_cast<uint8_t>(cache[symbol]);
}

struct SpanHash {
  size_t operator()(const std::array<uint32_t, 4>& k) const {
    uint64_t h = 0x9E3779B97F4A7C15ull;
    for (uint32_t v : k) h = (h ^ v) * 0xBF58476D1CE4E5B9ull, h ^= h >> 31;
    return static_cast<size_t>(h);
  }
};

class Dfg {
 public:
  Dfg(const FlatSyntaxTree& t, const std::string& code, CodeBleuOptions::SetOrder order)
      : t_(t), code_(code), order_(order), tok_idx_(t.nodes.size(), -1), tok_name_(t.nodes.size(), -1),
        kind_(t.nodes.size()) {
    for (size_t i = 0; i < t.nodes.size(); ++i) kind_[i] = symbol_kind(t.nodes[i].symbol, t.nodes[i].type);
    // Lines of the code as characters (code.split("\n")), sliced with byte columns like the package.
    // In ASCII code characters are bytes and a token is its byte span without the newlines.
    ascii_ = std::all_of(code.begin(), code.end(), [](char c) { return static_cast<unsigned char>(c) < 0x80; });
    if (!ascii_) {
      const std::u32string cps = utf8_decode(code);
      size_t b = 0;
      for (size_t i = 0; i <= cps.size(); ++i)
        if (i == cps.size() || cps[i] == '\n') {
          lines_.emplace_back(cps.substr(b, i - b));
          b = i + 1;
        }
    } else {
      size_t b = 0;
      for (size_t i = 0; i <= code.size(); ++i)
        if (i == code.size() || code[i] == '\n') {
          line_starts_.push_back(static_cast<uint32_t>(b));
          line_ends_.push_back(static_cast<uint32_t>(i));
          b = i + 1;
        }
    }
    index_to_code.reserve(t.nodes.size());
    // tree_to_token_index + index_to_code (a later token with the same (start, end) wins).
    std::vector<uint32_t> tokens;
    collect_tokens(0, tokens, 0);
    for (size_t k = 0; k < tokens.size(); ++k) {
      const auto& n = t_.nodes[tokens[k]];
      index_to_code[key(tokens[k])] = {static_cast<int>(k), intern(token_text(n))};
    }
    for (uint32_t id : tokens) {
      const auto& v = index_to_code[key(id)];
      tok_idx_[id] = v.first;
      tok_name_[id] = v.second;
    }
  }

  std::vector<Edge> run() {
    std::vector<Edge> dfg;
    try {
      if (too_deep_) throw DfgFailed{};
      dfg_python(0, States{}, dfg, 0);
    } catch (const DfgFailed&) {
      dfg.clear();
    }
    std::stable_sort(dfg.begin(), dfg.end(), [](const Edge& a, const Edge& b) { return a.idx < b.idx; });
    std::vector<char> keep_idx;
    auto mark = [&](int i) {
      if (i >= static_cast<int>(keep_idx.size())) keep_idx.resize(i + 1, 0);
      keep_idx[i] = 1;
    };
    for (const Edge& d : dfg) {
      if (!d.par_idx.empty()) mark(d.idx);
      for (int x : d.par_idx) mark(x);
    }
    // Keep the edges touching others, then merge the ones of the same token (insertion order).
    std::vector<Edge> merged;
    std::unordered_map<int, size_t> pos;
    for (Edge& d : dfg) {
      if (d.idx >= static_cast<int>(keep_idx.size()) || !keep_idx[d.idx]) continue;
      auto it = pos.find(d.idx);
      if (it == pos.end()) {
        pos[d.idx] = merged.size();
        merged.push_back(std::move(d));
      } else {
        Edge& m = merged[it->second];
        std::vector<int> names = m.par_names;
        names.insert(names.end(), d.par_names.begin(), d.par_names.end());
        std::vector<int> idxs = m.par_idx;
        idxs.insert(idxs.end(), d.par_idx.begin(), d.par_idx.end());
        m.name = d.name;
        m.computed = d.computed;
        m.par_names = set_list(names);
        std::sort(idxs.begin(), idxs.end());  // the order of these is never used
        idxs.erase(std::unique(idxs.begin(), idxs.end()), idxs.end());
        m.par_idx = std::move(idxs);
      }
    }
    return merged;
  }

  std::vector<NormEdge> normalize(const std::vector<Edge>& dfg) const {
    std::unordered_map<int, int> var;
    std::vector<NormEdge> out;
    out.reserve(dfg.size());
    auto id = [&](int name) {
      auto it = var.find(name);
      if (it != var.end()) return it->second;
      int v = static_cast<int>(var.size());
      var.emplace(name, v);
      return v;
    };
    for (const Edge& e : dfg) {
      for (int p : e.par_names) id(p);
      NormEdge n;
      n.var = id(e.name);
      n.computed = e.computed;
      for (int p : e.par_names) n.parents.push_back(var.at(p));
      out.push_back(std::move(n));
    }
    return out;
  }

 private:
  const FlatSyntaxTree& t_;
  const std::string& code_;
  CodeBleuOptions::SetOrder order_;
  bool ascii_ = false;
  std::vector<std::u32string> lines_;           // non-ASCII code: the lines as characters
  std::vector<uint32_t> line_starts_, line_ends_;  // ASCII code: the lines' byte ranges
  std::vector<int> tok_idx_, tok_name_;
  std::vector<uint8_t> kind_;
  std::vector<std::string> names_;
  mutable std::vector<int64_t> hashes_;  // CPython hashes of names_, filled lazily
  std::unordered_map<std::string, int> name_ids_;
  bool too_deep_ = false;
  std::unordered_map<std::array<uint32_t, 4>, std::pair<int, int>, SpanHash> index_to_code;

  std::array<uint32_t, 4> key(uint32_t id) const {
    const auto& n = t_.nodes[id];
    return {n.start.row, n.start.column, n.end.row, n.end.column};
  }
  int intern(std::string s) {
    auto it = name_ids_.find(s);
    if (it != name_ids_.end()) return it->second;
    int id = static_cast<int>(names_.size());
    name_ids_.emplace(s, id);
    names_.push_back(std::move(s));
    return id;
  }
  Kind kind(uint32_t n) const { return static_cast<Kind>(kind_[n] & ~kHasElse); }
  bool is_token(uint32_t n) const {
    const Kind k = kind(n);
    return (t_.child_count(n) == 0 || k == k_string_like) && k != k_comment;
  }
  // index_to_code_token: Python slicing of the lines with the node's byte columns.
  std::string token_text(const mtk::data::FlatSyntaxNode& n) const {
    if (ascii_) {
      auto slice = [&](uint32_t r, size_t a, size_t b, std::string& out) {
        if (r >= line_starts_.size()) return;
        const size_t len = line_ends_[r] - line_starts_[r];
        a = std::min(a, len);
        b = std::min(b, len);
        if (a < b) out.append(code_, line_starts_[r] + a, b - a);
      };
      std::string s;
      if (n.start.row == n.end.row) {
        slice(n.start.row, n.start.column, n.end.column, s);
      } else {
        slice(n.start.row, n.start.column, std::string::npos, s);
        for (uint32_t r = n.start.row + 1; r < n.end.row; ++r) slice(r, 0, std::string::npos, s);
        slice(n.end.row, 0, n.end.column, s);
      }
      return s;
    }
    auto slice = [](const std::u32string& s, size_t a, size_t b) {
      a = std::min(a, s.size());
      b = std::min(b, s.size());
      return a < b ? s.substr(a, b - a) : std::u32string();
    };
    auto line = [&](uint32_t r) -> const std::u32string& {
      static const std::u32string empty;
      return r < lines_.size() ? lines_[r] : empty;  // Python would raise; tree rows are in range
    };
    std::u32string s;
    if (n.start.row == n.end.row) {
      s = slice(line(n.start.row), n.start.column, n.end.column);
    } else {
      s = slice(line(n.start.row), n.start.column, std::u32string::npos);
      for (uint32_t r = n.start.row + 1; r < n.end.row; ++r) s += line(r);
      s += slice(line(n.end.row), 0, n.end.column);
    }
    return utf8_encode(s);
  }
  void collect_tokens(uint32_t n, std::vector<uint32_t>& out, int depth) {
    if (depth > kRecursionLimit) too_deep_ = true;
    if (is_token(n)) {
      out.push_back(n);
      return;
    }
    for (const uint32_t* c = t_.children_begin(n); c != t_.children_end(n); ++c) collect_tokens(*c, out, depth + 1);
  }
  // index_to_code[(start, end)] for a leaf: a child of a string (string_start...) is no collected
  // token and raises KeyError in the package, unless some token has the same span.
  void resolve(uint32_t n) {
    if (tok_idx_[n] >= 0) return;
    auto it = index_to_code.find(key(n));
    if (it == index_to_code.end()) throw DfgFailed{};
    tok_idx_[n] = it->second.first;
    tok_name_[n] = it->second.second;
  }
  bool name_is_type(uint32_t n) const { return names_[tok_name_[n]] == t_.nodes[n].type; }
  // tree_to_variable_index + index_to_code lookups: (idx, name) of the variable-like tokens.
  void variables(int32_t n, std::vector<std::pair<int, int>>& out) {
    if (n < 0) throw DfgFailed{};
    if (is_token(n)) {
      resolve(n);
      if (!name_is_type(n)) out.emplace_back(tok_idx_[n], tok_name_[n]);
      return;
    }
    for (const uint32_t* c = t_.children_begin(n); c != t_.children_end(n); ++c) variables(*c, out);
  }
  std::vector<int> set_list(const std::vector<int>& items) const {
    if (order_ == CodeBleuOptions::SetOrder::cpython_hashseed0) {
      // Hashes of the names, computed the first time a set is built (most code merges none).
      for (size_t i = hashes_.size(); i < names_.size(); ++i) hashes_.push_back(python_str_hash_seed0(names_[i]));
      return py_set_order_ids(items, hashes_);
    }
    std::vector<int> s = items;
    std::sort(s.begin(), s.end(), [&](int a, int b) { return names_[a] < names_[b]; });
    s.erase(std::unique(s.begin(), s.end()), s.end());
    return s;
  }
  static void sort_by_idx(std::vector<Edge>& v) {
    std::stable_sort(v.begin(), v.end(), [](const Edge& a, const Edge& b) { return a.idx < b.idx; });
  }
  std::vector<uint32_t> children_except_comma(int32_t n) const {
    if (n < 0) throw DfgFailed{};
    std::vector<uint32_t> out;
    for (const uint32_t* c = t_.children_begin(n); c != t_.children_end(n); ++c)
      if (kind(*c) != k_comma) out.push_back(*c);
    return out;
  }
  // The assignment part shared by assignments and for loops.
  void assign(const std::vector<int32_t>& left, const std::vector<int32_t>& right, States& states,
              std::vector<Edge>& out) {
    const size_t m = std::min(left.size(), right.size());
    for (size_t k = 0; k < m; ++k) {
      std::vector<std::pair<int, int>> lt, rt;
      variables(left[k], lt);
      variables(right[k], rt);
      for (const auto& [i1, c1] : lt) {
        Edge e{c1, i1, true, {}, {}};
        for (const auto& [i2, c2] : rt) {
          e.par_names.push_back(c2);
          e.par_idx.push_back(i2);
        }
        out.push_back(std::move(e));
        states[c1] = {i1};
      }
    }
  }
  void left_right(uint32_t n, std::vector<int32_t>& left, std::vector<int32_t>& right) const {
    const int32_t lf = t_.child_by_field(n, "left"), rf = t_.child_by_field(n, "right");
    auto r = children_except_comma(rf);
    auto l = children_except_comma(lf);
    left.assign(l.begin(), l.end());
    right.assign(r.begin(), r.end());
    if (right.size() != left.size()) {
      left = {lf};
      right = {rf};
    }
    if (left.empty()) left = {lf};
    if (right.empty()) right = {rf};
  }
  // for/while: merge the edges of the same (name, idx, relation), then sort by idx.
  void merge_loop(std::vector<Edge>& dfg) const {
    std::vector<Edge> merged;
    std::map<std::tuple<int, int, bool>, size_t> pos;
    for (Edge& x : dfg) {
      auto k = std::make_tuple(x.name, x.idx, x.computed);
      auto it = pos.find(k);
      if (it == pos.end()) {
        pos[k] = merged.size();
        merged.push_back(std::move(x));
      } else {
        Edge& m = merged[it->second];
        std::vector<int> names = m.par_names;
        names.insert(names.end(), x.par_names.begin(), x.par_names.end());
        m.par_names = set_list(names);
        std::vector<int> idxs = m.par_idx;
        idxs.insert(idxs.end(), x.par_idx.begin(), x.par_idx.end());
        std::sort(idxs.begin(), idxs.end());
        idxs.erase(std::unique(idxs.begin(), idxs.end()), idxs.end());
        m.par_idx = std::move(idxs);
      }
    }
    sort_by_idx(merged);
    dfg = std::move(merged);
  }

  // DFG_python(node, states): appends this node's (sorted) edges to `out`, returns the new states.
  States dfg_python(int32_t n, States states, std::vector<Edge>& out, int depth) {
    if (n < 0) throw DfgFailed{};
    if (depth > kRecursionLimit) throw DfgFailed{};
    std::vector<Edge> dfg;
    if (is_token(n)) {
      resolve(n);
      const int idx = tok_idx_[n], code = tok_name_[n];
      if (name_is_type(n)) return states;
      auto it = states.find(code);
      if (it != states.end()) {
        out.push_back(Edge{code, idx, false, {code}, it->second});
      } else {
        if (kind(n) == k_identifier) states[code] = {idx};
        out.push_back(Edge{code, idx, false, {}, {}});
      }
      return states;
    }
    const Kind ty = kind(n);
    if (ty == k_default_parameter) {
      const int32_t name = t_.child_by_field(n, "name"), value = t_.child_by_field(n, "value");
      if (value < 0) {
        std::vector<std::pair<int, int>> idxs;
        variables(name, idxs);
        for (const auto& [idx, code] : idxs) {
          dfg.push_back(Edge{code, idx, false, {}, {}});
          states[code] = {idx};
        }
      } else {
        std::vector<std::pair<int, int>> name_idxs, value_idxs;
        variables(name, name_idxs);
        variables(value, value_idxs);
        states = dfg_python(value, std::move(states), dfg, depth + 1);
        for (const auto& [i1, c1] : name_idxs) {
          for (const auto& [i2, c2] : value_idxs) dfg.push_back(Edge{c1, i1, false, {c2}, {i2}});
          states[c1] = {i1};
        }
      }
    } else if (ty == k_assignment || ty == k_augmented_assignment || ty == k_for_in_clause) {
      std::vector<int32_t> left, right;
      if (ty == k_for_in_clause) {
        right = {static_cast<int32_t>(*(t_.children_end(n) - 1))};
        left = {t_.child_by_field(n, "left")};
      } else {
        if (t_.child_by_field(n, "right") < 0) return states;
        left_right(n, left, right);
      }
      for (int32_t r : right) states = dfg_python(r, std::move(states), dfg, depth + 1);
      assign(left, right, states, dfg);
    } else if (ty == k_if_statement) {
      States current = states;
      std::vector<States> others;
      bool tag = false;
      for (const uint32_t* c = t_.children_begin(n); c != t_.children_end(n); ++c) {
        const Kind ct = kind(*c);
        if (kind_[*c] & kHasElse) tag = true;
        if (ct != k_elif_clause && ct != k_else_clause) {
          current = dfg_python(*c, std::move(current), dfg, depth + 1);
        } else {
          others.push_back(dfg_python(*c, states, dfg, depth + 1));
        }
      }
      others.push_back(std::move(current));
      if (!tag) others.push_back(states);
      States merged;
      for (const States& d : others)
        for (const auto& [k, v] : d) {
          auto& m = merged[k];
          m.insert(m.end(), v.begin(), v.end());
        }
      for (auto& [k, v] : merged) {
        std::sort(v.begin(), v.end());
        v.erase(std::unique(v.begin(), v.end()), v.end());
      }
      sort_by_idx(dfg);
      out.insert(out.end(), std::make_move_iterator(dfg.begin()), std::make_move_iterator(dfg.end()));
      return merged;
    } else if (ty == k_for_statement) {
      for (int pass = 0; pass < 2; ++pass) {
        std::vector<int32_t> left, right;
        left_right(n, left, right);
        for (int32_t r : right) states = dfg_python(r, std::move(states), dfg, depth + 1);
        assign(left, right, states, dfg);
        const uint32_t last = *(t_.children_end(n) - 1);
        if (kind(last) == k_block) states = dfg_python(last, std::move(states), dfg, depth + 1);
      }
      merge_loop(dfg);
    } else if (ty == k_while_statement) {
      for (int pass = 0; pass < 2; ++pass)
        for (const uint32_t* c = t_.children_begin(n); c != t_.children_end(n); ++c)
          states = dfg_python(*c, std::move(states), dfg, depth + 1);
      merge_loop(dfg);
    } else {
      for (const uint32_t* c = t_.children_begin(n); c != t_.children_end(n); ++c)
        if (kind(*c) == k_for_in_clause) states = dfg_python(*c, std::move(states), dfg, depth + 1);
      for (const uint32_t* c = t_.children_begin(n); c != t_.children_end(n); ++c)
        if (kind(*c) != k_for_in_clause) states = dfg_python(*c, std::move(states), dfg, depth + 1);
    }
    sort_by_idx(dfg);
    out.insert(out.end(), std::make_move_iterator(dfg.begin()), std::make_move_iterator(dfg.end()));
    return states;
  }
};

}  // namespace

std::vector<NormEdge> python_dataflow(const FlatSyntaxTree& tree, const std::string& code,
                                      CodeBleuOptions::SetOrder order) {
  Dfg d(tree, code, order);
  return d.normalize(d.run());
}

}  // namespace mtk::metrics::cb
