// CodeBLEU (see include/mtk/metrics/codebleu.hpp): BLEU and keyword-weighted n-gram match, syntax
// subtree match, API and batch.
#include "mtk/metrics/codebleu.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <deque>
#include <optional>
#include <type_traits>
#include <unordered_map>
#include <unordered_set>

#include "codebleu_internal.hpp"
#include "mtk/core/error.hpp"
#include "mtk/core/thread_pool.hpp"

namespace mtk::metrics {

const std::vector<std::string>& python_keywords() {
  // codebleu 0.7.0 keywords/python.txt: Python's keywords and soft keywords.
  static const std::vector<std::string> kw = {
      "False", "None",   "True",    "and",      "as",     "assert", "async", "await",  "break",
      "class", "continue", "def",   "del",      "elif",   "else",   "except", "finally", "for",
      "from",  "global", "if",      "import",   "in",     "is",     "lambda", "nonlocal", "not",
      "or",    "pass",   "raise",   "return",   "try",    "while",  "with",  "yield",  "match",
      "case",  "type"};
  return kw;
}

CodeBleuStats& CodeBleuStats::operator+=(const CodeBleuStats& o) {
  for (int i = 0; i < 4; ++i) {
    ngram_num[i] += o.ngram_num[i];
    ngram_den[i] += o.ngram_den[i];
    weighted_num[i] += o.weighted_num[i];
    weighted_den[i] += o.weighted_den[i];
  }
  hyp_len += o.hyp_len;
  ref_len += o.ref_len;
  weighted_ref_len += o.weighted_ref_len;
  syntax_match += o.syntax_match;
  syntax_total += o.syntax_total;
  dataflow_match += o.dataflow_match;
  dataflow_total += o.dataflow_total;
  return *this;
}

struct CodeBleuPrepared::Impl {
  std::vector<std::string> tokens;  // str.split() of the stripped code
  std::vector<char> keyword;        // tokens[i] is a Python keyword
  std::string sexp;                 // the tree's S-expression; subtrees are views into it
  std::deque<std::string> extra;    // S-expressions of anonymous nodes with children
  std::vector<std::string_view> subtrees;
  std::vector<cb::NormEdge> dataflow;
};

namespace {

// ---- syntax: the S-expression of every subtree (py-tree-sitter 0.22's str(node)) ---------------
// The root's S-expression (the runtime's ts_node_string) is parsed into groups, one per written
// node (named or MISSING, plus MISSING hidden tokens that the node API does not show); each node's
// string is then its group's span. Anonymous nodes with children (e.g. "not in") are written as
// py-tree-sitter 0.22 writes them: "(" + type, without a closing parenthesis.
struct Group {
  size_t begin = 0, end = 0;
  std::string_view type;  // "" for UNEXPECTED, the name for MISSING
  bool missing = false, hidden_missing = false, unexpected = false;
};

bool parse_groups(std::string_view s, size_t& i, std::vector<Group>& out, int depth) {
  if (depth > 100000 || i >= s.size() || s[i] != '(') return false;
  Group g;
  g.begin = i;
  size_t j = i + 1;
  if (s.compare(j, 8, "MISSING ") == 0) {
    j += 8;
    g.missing = true;
    if (j < s.size() && s[j] == '"') {
      size_t k = s.find("\")", j + 1);
      if (k == std::string_view::npos) return false;
      g.type = s.substr(j + 1, k - j - 1);
      g.end = k + 2;
    } else {
      size_t k = s.find(')', j);
      if (k == std::string_view::npos) return false;
      g.type = s.substr(j, k - j);
      g.hidden_missing = !g.type.empty() && g.type[0] == '_';
      g.end = k + 1;
    }
    out.push_back(g);
    i = g.end;
    return true;
  }
  if (s.compare(j, 11, "UNEXPECTED ") == 0) {
    j += 11;
    g.unexpected = true;
    size_t k;
    if (j < s.size() && s[j] == '\'') {
      k = j + 1 + ((j + 1 < s.size() && s[j + 1] == '\\') ? 2 : 1);  // the char, then "'"
      if (k + 1 >= s.size() || s[k] != '\'' || s[k + 1] != ')') return false;
      k += 1;
    } else {
      k = s.find(')', j);
      if (k == std::string_view::npos) return false;
    }
    g.end = k + 1;
    out.push_back(g);
    i = g.end;
    return true;
  }
  size_t k = j;
  while (k < s.size() && s[k] != ' ' && s[k] != ')') ++k;
  g.type = s.substr(j, k - j);
  const size_t self = out.size();
  out.push_back(g);
  while (k < s.size() && s[k] == ' ') {
    ++k;
    if (k < s.size() && s[k] != '(') {  // "field: "
      size_t c = s.find(": ", k);
      if (c == std::string_view::npos) return false;
      k = c + 2;
    }
    if (!parse_groups(s, k, out, depth + 1)) return false;
  }
  if (k >= s.size() || s[k] != ')') return false;
  out[self].end = k + 1;
  i = k + 1;
  return true;
}

// Fallback writer from the node API alone (used only if the runtime's string cannot be aligned).
void write_flat(const data::FlatSyntaxTree& t, const std::string& src, uint32_t n, const char* field, bool root,
                std::string& out) {
  const auto& nd = t.nodes[n];
  const bool visible = nd.missing || nd.named;
  if (visible) {
    if (!root) {
      out += ' ';
      if (field) (out += field) += ": ";
    }
    if (std::strcmp(nd.type, "ERROR") == 0 && t.child_count(n) == 0 && nd.end_byte > nd.start_byte) {
      out += "(UNEXPECTED ";
      unsigned char c = nd.start_byte < src.size() ? static_cast<unsigned char>(src[nd.start_byte]) : 0;
      if (c == '\n') out += "'\\n'";
      else if (c == '\t') out += "'\\t'";
      else if (c == '\r') out += "'\\r'";
      else if (c > 0 && c < 128 && std::isprint(c)) (out += '\'') += static_cast<char>(c), out += '\'';
      else out += std::to_string(cb::utf8_decode(src.substr(nd.start_byte, 4))[0]);
    } else if (nd.missing) {
      out += "(MISSING ";
      if (nd.named) out += nd.type;
      else (out += '"') += nd.type, out += '"';
    } else {
      (out += '(') += nd.type;
    }
  } else if (root) {
    (out += '(') += nd.type;
    if (t.child_count(n) == 0) out += nd.named ? ")" : "\")";
  }
  for (const uint32_t* c = t.children_begin(n); c != t.children_end(n); ++c)
    write_flat(t, src, *c, t.nodes[*c].extra ? nullptr : t.nodes[*c].field, false, out);
  if (visible) out += ')';
}

// The S-expression of an error-free tree (no ERROR or MISSING node) written from the flat tree, as
// the runtime's ts_node_string writes it, with each named node's span recorded as a group in
// preorder (the runtime's writer formats every node through snprintf, twice).
void write_clean(const data::FlatSyntaxTree& t, uint32_t n, const char* field, bool root, std::string& out,
                 std::vector<Group>& groups) {
  const auto& nd = t.nodes[n];
  size_t self = 0;
  if (nd.named) {
    if (!root) {
      out += ' ';
      if (field) (out += field) += ": ";
    }
    self = groups.size();
    Group g;
    g.begin = out.size();
    g.type = nd.type;  // a static grammar string, never a view into `out`
    groups.push_back(g);
    (out += '(') += nd.type;
  } else if (root) {
    (out += '(') += nd.type;
    if (t.child_count(n) == 0) out += "\")";
  }
  // A hidden node passes its field to its children (the runtime's rule); anonymous ones have none
  // written here, so only the children's own fields count.
  for (const uint32_t* c = t.children_begin(n); c != t.children_end(n); ++c)
    write_clean(t, *c, t.nodes[*c].extra ? nullptr : t.nodes[*c].field, false, out, groups);
  if (nd.named) {
    out += ')';
    groups[self].end = out.size();
  }
}

void prepare_syntax(CodeBleuPrepared::Impl& p, const data::SyntaxTree& tree, const data::FlatSyntaxTree& flat,
                    bool allow_fast) {
  std::vector<Group> groups;
  bool ok;
  if (allow_fast && !tree.has_error()) {
    p.sexp.reserve(flat.nodes.size() * 16);
    write_clean(flat, 0, nullptr, true, p.sexp, groups);
    ok = true;
  } else {
    p.sexp = tree.sexp();
    size_t i = 0;
    ok = parse_groups(p.sexp, i, groups, 0) && i == p.sexp.size();
  }
  std::vector<int> group_of(flat.nodes.size(), -1);
  if (ok) {
    size_t g = 0;
    for (size_t n = 0; n < flat.nodes.size() && ok; ++n) {
      const auto& nd = flat.nodes[n];
      if (!(nd.named || nd.missing)) continue;
      while (g < groups.size() && groups[g].hidden_missing) ++g;
      if (g >= groups.size()) {
        ok = false;
        break;
      }
      const Group& gr = groups[g];
      const bool match = gr.unexpected ? std::strcmp(nd.type, "ERROR") == 0
                                       : (gr.missing == nd.missing && gr.type == nd.type);
      if (!match) ok = false;
      group_of[n] = static_cast<int>(g++);
    }
  }
  for (size_t n = 0; n < flat.nodes.size(); ++n) {
    const auto& nd = flat.nodes[n];
    if (n != 0 && flat.child_count(static_cast<uint32_t>(n)) == 0) continue;
    if (ok && group_of[n] >= 0) {
      const Group& gr = groups[group_of[n]];
      p.subtrees.emplace_back(p.sexp.data() + gr.begin, gr.end - gr.begin);
    } else if (ok && !(nd.named || nd.missing)) {
      p.extra.push_back(std::string("(") + nd.type);
      p.subtrees.emplace_back(p.extra.back());
    } else {
      std::string s;
      write_flat(flat, tree.source(), static_cast<uint32_t>(n), nullptr, true, s);
      p.extra.push_back(std::move(s));
      p.subtrees.emplace_back(p.extra.back());
    }
  }
}

data::PythonParser& thread_parser() {
  thread_local data::PythonParser parser;
  return parser;
}

// NLTK-style BLEU from per-order numerators/denominators (smoothing method1, epsilon 0.1).
double bleu_from(const std::array<double, 4>& num, const std::array<double, 4>& den, double hyp_len,
                 double ref_len) {
  if (num[0] == 0) return 0.0;
  double bp;
  if (hyp_len > ref_len) bp = 1.0;
  else if (hyp_len == 0) bp = 0.0;
  else bp = std::exp(1.0 - ref_len / hyp_len);
  long double s = 0;
  for (int i = 0; i < 4; ++i) {
    const double n = num[i] == 0 ? num[i] + 0.1 : num[i];
    s += static_cast<long double>(0.25 * std::log(n / den[i]));
  }
  return bp * std::exp(static_cast<double>(s));
}

}  // namespace

CodeBleuPrepared::CodeBleuPrepared(std::string_view code, const CodeBleuOptions& opt)
    : impl_(std::make_unique<Impl>()) {
  Impl& p = *impl_;
  const std::string stripped = python_strip(code);
  for (std::string_view t : python_split(stripped)) p.tokens.emplace_back(t);
  const auto& kw = python_keywords();
  p.keyword.resize(p.tokens.size());
  for (size_t i = 0; i < p.tokens.size(); ++i)
    p.keyword[i] = std::find(kw.begin(), kw.end(), p.tokens[i]) != kw.end();
  std::string processed = remove_comments_and_docstrings(stripped);
  data::SyntaxTree tree = thread_parser().parse(processed);
  const data::FlatSyntaxTree flat = tree.flatten();
  prepare_syntax(p, tree, flat, !opt.runtime_sexp);
  p.dataflow = cb::python_dataflow(flat, tree.source(), opt.set_order);
}
CodeBleuPrepared::~CodeBleuPrepared() = default;
std::vector<std::string_view> CodeBleuPrepared::syntax_subtrees() const { return impl_->subtrees; }
CodeBleuPrepared::CodeBleuPrepared(CodeBleuPrepared&&) noexcept = default;
CodeBleuPrepared& CodeBleuPrepared::operator=(CodeBleuPrepared&&) noexcept = default;

namespace {
template <class Key>
Key gram_key(const std::vector<int>& v, size_t i, int n) {
  if constexpr (std::is_same_v<Key, uint64_t>) {
    uint64_t k = 0;
    for (int j = 0; j < n; ++j) k = (k << 16) | static_cast<uint64_t>(v[i + j]);
    return k;
  } else {
    std::string k(static_cast<size_t>(n) * sizeof(int), '\0');
    std::memcpy(k.data(), v.data() + i, k.size());
    return k;
  }
}

struct KeyHash {
  size_t operator()(uint64_t k) const {
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdull;
    k ^= k >> 33;
    return static_cast<size_t>(k);
  }
  size_t operator()(const std::string& k) const { return std::hash<std::string>{}(k); }
};

// BLEU modified precisions and the keyword-weighted recalls, orders 1..4 (the package's semantics:
// clipped hypothesis counts over the hypothesis total; clipped reference counts over the reference
// total, unigrams weighted 1 for keywords and 0.2 otherwise).
template <class Key>
void ngram_stats(const std::vector<int>& r, const std::vector<int>& h, const std::vector<char>& r_keyword,
                 CodeBleuStats& st) {
  std::unordered_map<Key, int, KeyHash> hc, rc;
  hc.reserve(h.size());
  rc.reserve(r.size());
  std::vector<const std::pair<const Key, int>*> r_order;  // reference n-grams in first-occurrence order
  r_order.reserve(r.size());
  std::vector<char> is_kw;
  for (int n = 1; n <= 4; ++n) {
    hc.clear();
    rc.clear();
    r_order.clear();
    if (h.size() >= static_cast<size_t>(n))
      for (size_t i = 0; i + n <= h.size(); ++i) ++hc[gram_key<Key>(h, i, n)];
    if (r.size() >= static_cast<size_t>(n))
      for (size_t i = 0; i + n <= r.size(); ++i) {
        auto [it, fresh] = rc.try_emplace(gram_key<Key>(r, i, n), 0);
        if (it->second++ == 0) r_order.push_back(&*it);
      }
    double num = 0, hyp_total = 0;
    for (const auto& [k, c] : hc) {
      auto it = rc.find(k);
      num += std::min(c, it == rc.end() ? 0 : it->second);
      hyp_total += c;
    }
    st.ngram_num[n - 1] = num;
    st.ngram_den[n - 1] = std::max(1.0, hyp_total);
    double wnum = 0, wden = 0;
    if (n == 1) {
      is_kw.clear();
      for (size_t i = 0; i < r.size(); ++i) {
        if (static_cast<size_t>(r[i]) >= is_kw.size()) is_kw.resize(r[i] + 1, 0);
        is_kw[r[i]] = r_keyword[i];
      }
    }
    for (const auto* e : r_order) {
      const int c = e->second;
      auto it = hc.find(e->first);
      const int clipped = std::min(c, it == hc.end() ? 0 : it->second);
      double w = 1.0;
      if (n == 1) {
        int id;
        if constexpr (std::is_same_v<Key, uint64_t>) id = static_cast<int>(e->first);
        else std::memcpy(&id, e->first.data(), sizeof(int));
        w = is_kw[id] ? 1.0 : 0.2;
      }
      wnum += clipped * w;
      wden += c * w;
    }
    st.weighted_num[n - 1] = wnum;
    st.weighted_den[n - 1] = std::max(1.0, wden);
  }
}
}  // namespace

CodeBleuStats codebleu_stats(const CodeBleuPrepared& reference, const CodeBleuPrepared& hypothesis) {
  const auto& R = reference.impl();
  const auto& H = hypothesis.impl();
  CodeBleuStats st;
  // Token ids shared by both sides.
  std::unordered_map<std::string_view, int> ids;
  auto to_ids = [&](const std::vector<std::string>& toks) {
    std::vector<int> v;
    v.reserve(toks.size());
    for (const auto& t : toks) v.push_back(ids.emplace(t, static_cast<int>(ids.size())).first->second);
    return v;
  };
  const std::vector<int> r = to_ids(R.tokens), h = to_ids(H.tokens);
  // An n-gram of ids below 2^16 packs into 64 bits; larger vocabularies fall back to byte strings.
  if (ids.size() < (1u << 16)) ngram_stats<uint64_t>(r, h, R.keyword, st);
  else ngram_stats<std::string>(r, h, R.keyword, st);
  st.hyp_len = static_cast<double>(h.size());
  st.ref_len = static_cast<double>(r.size());
  // The package's weighted BLEU takes the brevity penalty's reference length as the length of the
  // [tokens, weights] pair it stores per reference, i.e. 2.
  st.weighted_ref_len = 2;
  // Syntax: reference subtrees found among the hypothesis subtrees.
  std::unordered_set<std::string_view> cand(H.subtrees.begin(), H.subtrees.end());
  for (std::string_view s : R.subtrees) st.syntax_match += cand.count(s) ? 1 : 0;
  st.syntax_total = static_cast<double>(R.subtrees.size());
  // Data flow: multiset match of normalized edges.
  if (!R.dataflow.empty()) {
    std::vector<char> used(H.dataflow.size(), 0);
    for (const auto& e : R.dataflow) {
      for (size_t j = 0; j < H.dataflow.size(); ++j)
        if (!used[j] && H.dataflow[j] == e) {
          used[j] = 1;
          st.dataflow_match += 1;
          break;
        }
    }
    st.dataflow_total = static_cast<double>(R.dataflow.size());
  }
  return st;
}

CodeBleuResult codebleu_from_stats(const CodeBleuStats& st, const CodeBleuOptions& opt) {
  CodeBleuResult r;
  r.ngram_match = bleu_from(st.ngram_num, st.ngram_den, st.hyp_len, st.ref_len);
  r.weighted_ngram_match = bleu_from(st.weighted_num, st.weighted_den, st.hyp_len, st.weighted_ref_len);
  r.syntax_match = st.syntax_total > 0 ? st.syntax_match / st.syntax_total : 0.0;
  r.dataflow_match = st.dataflow_total > 0 ? st.dataflow_match / st.dataflow_total : 0.0;
  const double df = (opt.zero_dataflow_as_one && r.dataflow_match == 0.0) ? 1.0 : r.dataflow_match;
  const auto& w = opt.weights;
  r.codebleu = w[0] * r.ngram_match + w[1] * r.weighted_ngram_match + w[2] * r.syntax_match + w[3] * df;
  return r;
}

CodeBleuResult codebleu(const CodeBleuPrepared& reference, const CodeBleuPrepared& hypothesis,
                        const CodeBleuOptions& opt) {
  return codebleu_from_stats(codebleu_stats(reference, hypothesis), opt);
}

CodeBleuResult codebleu(std::string_view reference, std::string_view hypothesis, const CodeBleuOptions& opt) {
  return codebleu(CodeBleuPrepared(reference, opt), CodeBleuPrepared(hypothesis, opt), opt);
}

std::vector<CodeBleuStats> codebleu_batch_stats(const std::vector<std::string>& refs,
                                                const std::vector<std::string>& hyps, const CodeBleuOptions& opt,
                                                unsigned threads) {
  if (refs.size() != hyps.size())
    throw Error("CodeBLEU: " + std::to_string(refs.size()) + " references but " + std::to_string(hyps.size()) +
                    " hypotheses",
                "pass one reference per hypothesis");
  // Each distinct code is analysed once (a GRPO group shares its reference; a benchmark scores
  // several strategies against the same references), then the pairs are counted.
  std::unordered_map<std::string_view, size_t> slot;
  std::vector<std::string_view> distinct;
  std::vector<std::pair<size_t, size_t>> pair_slots(refs.size());
  auto slot_of = [&](const std::string& code) {
    auto [it, fresh] = slot.try_emplace(code, distinct.size());
    if (fresh) distinct.push_back(code);
    return it->second;
  };
  for (size_t i = 0; i < refs.size(); ++i) pair_slots[i] = {slot_of(refs[i]), slot_of(hyps[i])};
  std::vector<std::optional<CodeBleuPrepared>> prepared(distinct.size());
  parallel_for(distinct.size(), [&](size_t i) { prepared[i].emplace(distinct[i], opt); }, threads);
  std::vector<CodeBleuStats> out(refs.size());
  parallel_for(
      refs.size(), [&](size_t i) { out[i] = codebleu_stats(*prepared[pair_slots[i].first], *prepared[pair_slots[i].second]); },
      threads);
  return out;
}

std::vector<CodeBleuResult> codebleu_batch(const std::vector<std::string>& references,
                                           const std::vector<std::string>& hypotheses, const CodeBleuOptions& opt,
                                           unsigned threads) {
  std::vector<CodeBleuResult> out;
  for (const auto& s : codebleu_batch_stats(references, hypotheses, opt, threads)) out.push_back(codebleu_from_stats(s, opt));
  return out;
}

CodeBleuResult corpus_codebleu(const std::vector<std::string>& references, const std::vector<std::string>& hypotheses,
                               const CodeBleuOptions& opt, unsigned threads) {
  CodeBleuStats total;
  for (const auto& s : codebleu_batch_stats(references, hypotheses, opt, threads)) total += s;
  return codebleu_from_stats(total, opt);
}

double code_bert_bleu(double codebleu, double cosine) { return std::sqrt(codebleu * std::max(0.0, cosine)); }

}  // namespace mtk::metrics
