#pragma once
// RITL-DOC's retriever: the Manim API names a piece of generated code uses, looked up in the doc
// index and formatted as the <API_INFO> block.
//
// Extraction (tree-sitter syntax tree, the rules of the paper's CallExtractor):
//   - calls: the dotted name of every call's function (Circle, self.play, sq.shift, VGroup(...).arrange);
//   - accesses: attribute assignment targets (self.camera.background_color = ...) and attributes
//     read in call arguments and assignment values;
//   - a variable assigned a constructor call maps to its class (b1 = Brace(...): b1.shift -> Brace.shift);
//     the chained call Line(...).set_color maps to Line.set_color;
//   - self.x inside `class S(Base)` maps to Base.x;
//   - dropped: names whose root or method is a Python builtin or helper module (print, len, range,
//     int, str, float, list, dict, set, tuple, bool, type, object, np, math, random, and the other
//     builtins: abs, min, max, sum, zip, enumerate, ...) or Scene plumbing (add, remove, clear,
//     play, wait, show, hide); and, beyond the paper, functions and classes the code defines itself;
//   - accesses that are also calls are kept once, as calls.
// Code that does not parse gives what the parts that do parse contain (tree-sitter recovers).
//
// Formatting, as the paper: calls as "- **NAME**: signature `SIG` - DOC"; accesses as
// "- **NAME** (attribute: TYPE) - DOC"; a name the index does not know gives
// "NO DOCUMENTATION AVAILABLE FOR `NAME`. ..." and, beyond the paper, the closest real names.
// Error-driven retrieval (beyond the paper, off by default): the symbol named by the render error
// (NameError, AttributeError, unexpected or missing keyword arguments, ImportError) is documented
// first, with its valid parameters or the closest real names.
#include <memory>
#include <string>
#include <vector>

namespace mtk::agent {

class DocIndex;

struct ExtractedNames {
  std::vector<std::string> calls;     // sorted, unique
  std::vector<std::string> accesses;  // sorted, unique, none of them in calls
};

ExtractedNames extract_api_names(const std::string& code);

struct RetrieverOptions {
  bool suggestions = true;   // closest real names for unknown ones
  size_t max_suggestions = 3;
  bool error_docs = false;   // error-driven retrieval first
  size_t max_chars = 0;      // cut the API_INFO text at this many characters (0 = no limit)
};

struct Retrieval {
  std::string api_info;                    // the <API_INFO> text
  std::vector<std::string> documented;     // names found in the index
  std::vector<std::string> undocumented;   // names the index does not know (hallucination flags)
  std::vector<std::string> error_symbols;  // names taken from the render error (error_docs)
};

class Retriever {
 public:
  Retriever(std::shared_ptr<const DocIndex> index, RetrieverOptions opt = {});
  Retrieval retrieve(const std::string& code, const std::string& error_text = {}) const;
  const DocIndex& index() const { return *index_; }
  const RetrieverOptions& options() const { return opt_; }

 private:
  std::shared_ptr<const DocIndex> index_;
  RetrieverOptions opt_;
};

// Symbols a render error names (for error-driven retrieval): each as a dotted name, plus the
// offending keyword argument when there is one. Exposed for tests.
struct ErrorSymbol {
  std::string name;     // "Circle.set_colour", "Craete", "Mobject"
  std::string keyword;  // "bg_color" for unexpected keyword arguments
  std::string kind;     // name, attribute, keyword, missing_argument, import
};
std::vector<ErrorSymbol> symbols_from_error(const std::string& error_text);

}  // namespace mtk::agent
