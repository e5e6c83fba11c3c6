#pragma once
// Python syntax trees with tree-sitter: the C runtime 0.22.3 (the one the `codebleu` package runs
// on; Debian's 0.20.7 recovers from syntax errors differently) and the Python grammar 0.23.1, both
// compiled from the released sources that scripts/setup.sh fetches from PyPI (see
// include/mtk/metrics/codebleu.hpp for how that grammar differs from the 0.21.0 one the package uses). Used by CodeBLEU (syntax and data-flow match) and by the agent's
// API-call retriever. This header does not include tree-sitter's C API.
//
//   mtk::data::PythonParser parser;                 // one per thread (a parser is not thread-safe)
//   mtk::data::SyntaxTree tree = parser.parse(code);
//   tree.walk([&](const SyntaxNode& n, int depth, const char* field) {
//     if (n.type() == std::string_view("call")) use(n.child_by_field("function").text());
//     return true;                                  // false: skip this node's children
//   });
//
// Positions: byte offsets and (row, column) points with the column in bytes, as tree-sitter gives.
// Children are tree-sitter's visible children (named and anonymous, e.g. "(" or "def").
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace mtk::data {

struct SyntaxPoint {
  uint32_t row = 0;
  uint32_t column = 0;  // bytes
  bool operator==(const SyntaxPoint& o) const { return row == o.row && column == o.column; }
  bool operator!=(const SyntaxPoint& o) const { return !(*this == o); }
  bool operator<(const SyntaxPoint& o) const { return row != o.row ? row < o.row : column < o.column; }
};

namespace detail {
struct SyntaxTreeImpl;
}

// A view of one node; valid while its SyntaxTree lives. Cheap to copy. A default-constructed (or
// "not found") node is null: check with valid() / operator bool before using it.
class SyntaxNode {
 public:
  SyntaxNode() = default;
  bool valid() const { return tree_ != nullptr && raw_.id != nullptr; }
  explicit operator bool() const { return valid(); }

  const char* type() const;  // grammar symbol name (aliases applied), e.g. "identifier", "(", "ERROR"
  uint16_t symbol() const;
  bool is_named() const;
  bool is_missing() const;  // inserted by error recovery (zero width)
  bool is_extra() const;    // e.g. comments
  bool is_error() const;    // an ERROR node
  bool has_error() const;   // this node or a descendant is an ERROR or MISSING node

  uint32_t start_byte() const;
  uint32_t end_byte() const;
  SyntaxPoint start_point() const;
  SyntaxPoint end_point() const;
  std::string_view text() const;  // the source bytes [start_byte, end_byte)

  uint32_t child_count() const;
  uint32_t named_child_count() const;
  SyntaxNode child(uint32_t i) const;  // O(i): prefer children() to visit all
  SyntaxNode named_child(uint32_t i) const;
  std::vector<SyntaxNode> children() const;
  std::vector<SyntaxNode> named_children() const;
  SyntaxNode child_by_field(std::string_view field) const;  // null when absent
  const char* field_name_for_child(uint32_t i) const;       // nullptr when none
  SyntaxNode parent() const;
  SyntaxNode next_sibling() const;
  SyntaxNode prev_sibling() const;

  // The runtime's S-expression (ts_node_string): named and MISSING nodes with field labels.
  std::string sexp() const;

  bool operator==(const SyntaxNode& o) const { return raw_.id == o.raw_.id && tree_ == o.tree_; }
  bool operator!=(const SyntaxNode& o) const { return !(*this == o); }

 private:
  friend class SyntaxTree;
  friend struct detail::SyntaxTreeImpl;
  struct Raw {  // layout of tree-sitter's TSNode (checked by a static_assert in the .cpp)
    uint32_t context[4];
    const void* id;
    const void* tree;
  };
  Raw raw_{};
  const detail::SyntaxTreeImpl* tree_ = nullptr;
};

// The whole tree in preorder, flattened for fast repeated traversal (children as index ranges).
struct FlatSyntaxNode {
  const char* type = nullptr;   // static grammar string
  const char* field = nullptr;  // field name under the parent, nullptr when none
  uint16_t symbol = 0;
  bool named = false, missing = false, extra = false;
  uint32_t start_byte = 0, end_byte = 0;
  SyntaxPoint start, end;
  int32_t parent = -1;
  uint32_t children_begin = 0, children_end = 0;  // range in FlatSyntaxTree::child_ids
};
struct FlatSyntaxTree {
  std::vector<FlatSyntaxNode> nodes;  // nodes[0] is the root
  std::vector<uint32_t> child_ids;
  uint32_t child_count(uint32_t n) const { return nodes[n].children_end - nodes[n].children_begin; }
  const uint32_t* children_begin(uint32_t n) const { return child_ids.data() + nodes[n].children_begin; }
  const uint32_t* children_end(uint32_t n) const { return child_ids.data() + nodes[n].children_end; }
  int32_t child_by_field(uint32_t n, std::string_view field) const;  // -1 when absent
};

class SyntaxTree {
 public:
  SyntaxTree(SyntaxTree&&) noexcept;
  SyntaxTree& operator=(SyntaxTree&&) noexcept;
  ~SyntaxTree();

  SyntaxNode root() const;
  const std::string& source() const;
  bool has_error() const { return root().has_error(); }
  std::string sexp() const { return root().sexp(); }

  // Preorder walk. visit(node, depth, field_name_or_nullptr) returns false to skip the children.
  void walk(const std::function<bool(const SyntaxNode&, int, const char*)>& visit) const;
  FlatSyntaxTree flatten() const;

 private:
  friend class PythonParser;
  explicit SyntaxTree(std::unique_ptr<detail::SyntaxTreeImpl> impl);
  std::unique_ptr<detail::SyntaxTreeImpl> impl_;
};

class PythonParser {
 public:
  PythonParser();  // throws mtk::Error if the runtime cannot load the grammar (ABI mismatch)
  ~PythonParser();
  PythonParser(PythonParser&&) noexcept;
  PythonParser& operator=(PythonParser&&) noexcept;
  PythonParser(const PythonParser&) = delete;
  PythonParser& operator=(const PythonParser&) = delete;

  // Parses UTF-8 source (always succeeds; syntax errors become ERROR / MISSING nodes).
  SyntaxTree parse(std::string source);

  static uint32_t grammar_abi_version();  // the grammar's LANGUAGE_VERSION (14)
  static uint32_t runtime_abi_version();  // the newest ABI the runtime loads

 private:
  void* parser_ = nullptr;  // TSParser*
};

}  // namespace mtk::data
