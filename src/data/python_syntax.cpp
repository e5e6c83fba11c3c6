// tree-sitter wrapper for Python source (see include/mtk/data/python_syntax.hpp).
#include "mtk/data/python_syntax.hpp"

#include <tree_sitter/api.h>

#include <cstdlib>
#include <cstring>

#include "mtk/core/error.hpp"

extern "C" const TSLanguage* tree_sitter_python(void);

namespace mtk::data {

namespace detail {
struct SyntaxTreeImpl {
  TSTree* tree = nullptr;
  std::string source;
  ~SyntaxTreeImpl() {
    if (tree) ts_tree_delete(tree);
  }
  SyntaxNode wrap(TSNode n) const {
    SyntaxNode out;
    if (ts_node_is_null(n)) return out;
    std::memcpy(&out.raw_, &n, sizeof(TSNode));
    out.tree_ = this;
    return out;
  }
};
}  // namespace detail

namespace {
static_assert(sizeof(TSNode) == sizeof(uint32_t) * 4 + sizeof(void*) * 2, "TSNode layout changed");

template <class Raw>
TSNode ts(const Raw& raw) {
  TSNode n;
  std::memcpy(&n, &raw, sizeof(TSNode));
  return n;
}
}  // namespace

#define MTK_TS_NODE ts(raw_)

const char* SyntaxNode::type() const { return valid() ? ts_node_type(MTK_TS_NODE) : ""; }
uint16_t SyntaxNode::symbol() const { return valid() ? ts_node_symbol(MTK_TS_NODE) : 0; }
bool SyntaxNode::is_named() const { return valid() && ts_node_is_named(MTK_TS_NODE); }
bool SyntaxNode::is_missing() const { return valid() && ts_node_is_missing(MTK_TS_NODE); }
bool SyntaxNode::is_extra() const { return valid() && ts_node_is_extra(MTK_TS_NODE); }
bool SyntaxNode::is_error() const { return valid() && std::strcmp(ts_node_type(MTK_TS_NODE), "ERROR") == 0; }
bool SyntaxNode::has_error() const { return valid() && ts_node_has_error(MTK_TS_NODE); }
uint32_t SyntaxNode::start_byte() const { return valid() ? ts_node_start_byte(MTK_TS_NODE) : 0; }
uint32_t SyntaxNode::end_byte() const { return valid() ? ts_node_end_byte(MTK_TS_NODE) : 0; }
SyntaxPoint SyntaxNode::start_point() const {
  if (!valid()) return {};
  TSPoint p = ts_node_start_point(MTK_TS_NODE);
  return {p.row, p.column};
}
SyntaxPoint SyntaxNode::end_point() const {
  if (!valid()) return {};
  TSPoint p = ts_node_end_point(MTK_TS_NODE);
  return {p.row, p.column};
}
std::string_view SyntaxNode::text() const {
  if (!valid()) return {};
  const std::string& s = tree_->source;
  uint32_t b = std::min<uint32_t>(start_byte(), s.size()), e = std::min<uint32_t>(end_byte(), s.size());
  return std::string_view(s).substr(b, e > b ? e - b : 0);
}
uint32_t SyntaxNode::child_count() const { return valid() ? ts_node_child_count(MTK_TS_NODE) : 0; }
uint32_t SyntaxNode::named_child_count() const { return valid() ? ts_node_named_child_count(MTK_TS_NODE) : 0; }
SyntaxNode SyntaxNode::child(uint32_t i) const {
  return valid() ? tree_->wrap(ts_node_child(MTK_TS_NODE, i)) : SyntaxNode{};
}
SyntaxNode SyntaxNode::named_child(uint32_t i) const {
  return valid() ? tree_->wrap(ts_node_named_child(MTK_TS_NODE, i)) : SyntaxNode{};
}
std::vector<SyntaxNode> SyntaxNode::children() const {
  std::vector<SyntaxNode> out;
  if (!valid()) return out;
  TSTreeCursor c = ts_tree_cursor_new(MTK_TS_NODE);
  if (ts_tree_cursor_goto_first_child(&c)) {
    do out.push_back(tree_->wrap(ts_tree_cursor_current_node(&c)));
    while (ts_tree_cursor_goto_next_sibling(&c));
  }
  ts_tree_cursor_delete(&c);
  return out;
}
std::vector<SyntaxNode> SyntaxNode::named_children() const {
  std::vector<SyntaxNode> out;
  for (const SyntaxNode& n : children())
    if (n.is_named()) out.push_back(n);
  return out;
}
SyntaxNode SyntaxNode::child_by_field(std::string_view field) const {
  if (!valid()) return {};
  return tree_->wrap(ts_node_child_by_field_name(MTK_TS_NODE, field.data(), static_cast<uint32_t>(field.size())));
}
const char* SyntaxNode::field_name_for_child(uint32_t i) const {
  return valid() ? ts_node_field_name_for_child(MTK_TS_NODE, i) : nullptr;
}
SyntaxNode SyntaxNode::parent() const { return valid() ? tree_->wrap(ts_node_parent(MTK_TS_NODE)) : SyntaxNode{}; }
SyntaxNode SyntaxNode::next_sibling() const {
  return valid() ? tree_->wrap(ts_node_next_sibling(MTK_TS_NODE)) : SyntaxNode{};
}
SyntaxNode SyntaxNode::prev_sibling() const {
  return valid() ? tree_->wrap(ts_node_prev_sibling(MTK_TS_NODE)) : SyntaxNode{};
}
std::string SyntaxNode::sexp() const {
  if (!valid()) return {};
  char* s = ts_node_string(MTK_TS_NODE);
  std::string out(s ? s : "");
  std::free(s);
  return out;
}
#undef MTK_TS_NODE

int32_t FlatSyntaxTree::child_by_field(uint32_t n, std::string_view field) const {
  for (const uint32_t* c = children_begin(n); c != children_end(n); ++c) {
    const char* f = nodes[*c].field;
    if (f && field == f) return static_cast<int32_t>(*c);
  }
  return -1;
}

SyntaxTree::SyntaxTree(std::unique_ptr<detail::SyntaxTreeImpl> impl) : impl_(std::move(impl)) {}
SyntaxTree::SyntaxTree(SyntaxTree&&) noexcept = default;
SyntaxTree& SyntaxTree::operator=(SyntaxTree&&) noexcept = default;
SyntaxTree::~SyntaxTree() = default;

SyntaxNode SyntaxTree::root() const { return impl_->wrap(ts_tree_root_node(impl_->tree)); }
const std::string& SyntaxTree::source() const { return impl_->source; }

void SyntaxTree::walk(const std::function<bool(const SyntaxNode&, int, const char*)>& visit) const {
  TSTreeCursor c = ts_tree_cursor_new(ts_tree_root_node(impl_->tree));
  int depth = 0;
  for (;;) {
    bool descend = visit(impl_->wrap(ts_tree_cursor_current_node(&c)), depth, ts_tree_cursor_current_field_name(&c));
    if (descend && ts_tree_cursor_goto_first_child(&c)) {
      ++depth;
      continue;
    }
    for (;;) {
      if (depth == 0) {
        ts_tree_cursor_delete(&c);
        return;
      }
      if (ts_tree_cursor_goto_next_sibling(&c)) break;
      ts_tree_cursor_goto_parent(&c);
      --depth;
    }
  }
}

FlatSyntaxTree SyntaxTree::flatten() const {
  FlatSyntaxTree out;
  auto& nodes = out.nodes;
  nodes.reserve(256);
  TSTreeCursor c = ts_tree_cursor_new(ts_tree_root_node(impl_->tree));
  std::vector<int32_t> stack;  // ids of the ancestors of the cursor's node
  std::vector<uint32_t> counts;
  for (;;) {
    TSNode n = ts_tree_cursor_current_node(&c);
    FlatSyntaxNode f;
    f.type = ts_node_type(n);
    f.field = ts_tree_cursor_current_field_name(&c);
    f.symbol = ts_node_symbol(n);
    f.named = ts_node_is_named(n);
    f.missing = ts_node_is_missing(n);
    f.extra = ts_node_is_extra(n);
    f.start_byte = ts_node_start_byte(n);
    f.end_byte = ts_node_end_byte(n);
    TSPoint sp = ts_node_start_point(n), ep = ts_node_end_point(n);
    f.start = {sp.row, sp.column};
    f.end = {ep.row, ep.column};
    f.parent = stack.empty() ? -1 : stack.back();
    const int32_t id = static_cast<int32_t>(nodes.size());
    nodes.push_back(f);
    counts.push_back(0);
    if (f.parent >= 0) ++counts[f.parent];
    if (ts_tree_cursor_goto_first_child(&c)) {
      stack.push_back(id);
      continue;
    }
    bool done = false;
    for (;;) {
      if (stack.empty()) {
        done = true;
        break;
      }
      if (ts_tree_cursor_goto_next_sibling(&c)) break;
      ts_tree_cursor_goto_parent(&c);
      stack.pop_back();
    }
    if (done) break;
  }
  ts_tree_cursor_delete(&c);
  // Children as contiguous ranges, in order (preorder visits each parent's children in order).
  uint32_t off = 0;
  for (size_t i = 0; i < nodes.size(); ++i) {
    nodes[i].children_begin = nodes[i].children_end = off;
    off += counts[i];
  }
  out.child_ids.resize(off);
  for (size_t i = 1; i < nodes.size(); ++i) {
    FlatSyntaxNode& p = nodes[nodes[i].parent];
    out.child_ids[p.children_end++] = static_cast<uint32_t>(i);
  }
  return out;
}

PythonParser::PythonParser() {
  const TSLanguage* lang = tree_sitter_python();
  const uint32_t v = ts_language_version(lang);
  if (v > TREE_SITTER_LANGUAGE_VERSION || v < TREE_SITTER_MIN_COMPATIBLE_LANGUAGE_VERSION)
    throw Error("the tree-sitter Python grammar has ABI " + std::to_string(v) + " but the tree-sitter runtime loads " +
                    std::to_string(TREE_SITTER_MIN_COMPATIBLE_LANGUAGE_VERSION) + "-" +
                    std::to_string(TREE_SITTER_LANGUAGE_VERSION),
                "use the grammar version scripts/setup.sh fetches (tree-sitter-python 0.23.1)");
  TSParser* p = ts_parser_new();
  if (!ts_parser_set_language(p, lang)) {
    ts_parser_delete(p);
    throw Error("tree-sitter rejected the Python grammar", "re-run scripts/setup.sh and rebuild");
  }
  parser_ = p;
}
PythonParser::~PythonParser() {
  if (parser_) ts_parser_delete(static_cast<TSParser*>(parser_));
}
PythonParser::PythonParser(PythonParser&& o) noexcept : parser_(o.parser_) { o.parser_ = nullptr; }
PythonParser& PythonParser::operator=(PythonParser&& o) noexcept {
  if (this != &o) {
    if (parser_) ts_parser_delete(static_cast<TSParser*>(parser_));
    parser_ = o.parser_;
    o.parser_ = nullptr;
  }
  return *this;
}

SyntaxTree PythonParser::parse(std::string source) {
  auto impl = std::make_unique<detail::SyntaxTreeImpl>();
  impl->source = std::move(source);
  TSParser* p = static_cast<TSParser*>(parser_);
  ts_parser_reset(p);
  impl->tree = ts_parser_parse_string_encoding(p, nullptr, impl->source.data(),
                                               static_cast<uint32_t>(impl->source.size()), TSInputEncodingUTF8);
  if (!impl->tree) throw Error("tree-sitter failed to parse Python source (cancelled or timed out)");
  return SyntaxTree(std::move(impl));
}

uint32_t PythonParser::grammar_abi_version() { return ts_language_version(tree_sitter_python()); }
uint32_t PythonParser::runtime_abi_version() { return TREE_SITTER_LANGUAGE_VERSION; }

}  // namespace mtk::data
