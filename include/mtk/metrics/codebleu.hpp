#pragma once
// CodeBLEU for Python with the semantics of the `codebleu` PyPI package 0.7.0
// (`calc_codebleu([ref], [hyp], lang="python")`, the call the paper's code makes), natively:
//   - ngram_match: NLTK-style corpus BLEU-4 on whitespace tokens (str.split()) of the stripped code,
//     smoothing method1 (epsilon 0.1 on zero counts), brevity penalty;
//   - weighted_ngram_match: the package's recall-style weighted BLEU where reference unigrams that
//     are Python keywords weigh 1 and others 0.2 (keyword list embedded: python_keywords());
//   - syntax_match: share of the reference's tree-sitter subtrees (root + every node with children,
//     compared by their S-expression) that occur in the hypothesis;
//   - dataflow_match: the package's data-flow graph (DFG_python) with variables renamed var_0, var_1..
//     in order of first use, as a multiset match of the reference's edges.
// Syntax and data flow run on the code after remove_comments_and_docstrings() (the package's
// emulation with Python's tokenize module, reproduced here: see codebleu_text.cpp); on a tokenize
// failure (unbalanced brackets, unterminated strings, bad dedent) the code is used as it is.
//
// Parity notes (measured by tests/metrics/test_codebleu.cpp against the package):
//   - The package computes data flow through Python sets of variable names, whose iteration order
//     depends on PYTHONHASHSEED: under random hash seeds about 3% of ManimBench pairs get a different
//     data-flow score from run to run. SetOrder::cpython_hashseed0 (default) reproduces CPython 3.11
//     set order with PYTHONHASHSEED=0 (siphash13 with a zero key), so the numbers equal the package
//     run with PYTHONHASHSEED=0; SetOrder::sorted is a deterministic order independent of CPython.
//   - The package runs only with tree-sitter-python 0.21.0 (wheel only, no released source); the
//     grammar here is built from tree-sitter-python 0.23.1, whose grammar differs in three rules:
//     `match` as an identifier, octal escapes of 1-2 digits in strings (\0), and how "not in"/"is not"
//     are built. Code using those can score differently.
//   - tree-sitter runtime: 0.22.3 as in the package (built from its released source; Debian's 0.20.7
//     recovers from syntax errors differently and would change the syntax score of invalid code).
//   - A zero data-flow score (the reference has no data flow, or none of it matches) counts as 1 in
//     the package's total (`dataflow_match_score or 1`). CodeBleuOptions::zero_dataflow_as_one
//     (default true) does the same; false keeps the 0 in the total. The dataflow_match field is the
//     package's value either way (0).
//   - Tree depth over ~990 (Python's recursion limit in the package's DFG) gives an empty data flow
//     in the package; here too (approximately the same threshold).
#include <array>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace mtk::metrics {

struct CodeBleuOptions {
  // alpha (ngram), beta (weighted ngram), gamma (syntax), theta (data flow).
  std::array<double, 4> weights{0.25, 0.25, 0.25, 0.25};
  // The package's `dataflow_match_score or 1`: a zero data-flow score counts as 1 in the total.
  bool zero_dataflow_as_one = true;
  enum class SetOrder { cpython_hashseed0, sorted };
  SetOrder set_order = SetOrder::cpython_hashseed0;
  // Subtree strings of error-free trees are written by our own writer (the runtime's ts_node_string
  // formats every node through snprintf); true uses the runtime's writer for every tree (the test
  // that the two agree on all ManimBench code sets it).
  bool runtime_sexp = false;
};

struct CodeBleuResult {
  double ngram_match = 0;
  double weighted_ngram_match = 0;
  double syntax_match = 0;
  double dataflow_match = 0;  // the package's dataflow_match_score (0 when the reference has no data flow)
  double codebleu = 0;
};

// The sufficient statistics of one pair (sum them over pairs for the package's corpus-level score).
struct CodeBleuStats {
  std::array<double, 4> ngram_num{}, ngram_den{};        // BLEU modified precision per order
  std::array<double, 4> weighted_num{}, weighted_den{};  // weighted recall per order
  double hyp_len = 0, ref_len = 0;
  double weighted_ref_len = 0;  // the package measures len([tokens, weights]) = 2 per reference here
  double syntax_match = 0, syntax_total = 0;
  double dataflow_match = 0, dataflow_total = 0;
  CodeBleuStats& operator+=(const CodeBleuStats& o);
};

// One side analysed once (whitespace tokens, syntax subtrees, normalized data flow): score one
// reference against many hypotheses without redoing the reference.
class CodeBleuPrepared {
 public:
  struct Impl;
  explicit CodeBleuPrepared(std::string_view code, const CodeBleuOptions& opt = {});
  ~CodeBleuPrepared();
  CodeBleuPrepared(CodeBleuPrepared&&) noexcept;
  CodeBleuPrepared& operator=(CodeBleuPrepared&&) noexcept;
  const Impl& impl() const { return *impl_; }
  // The S-expressions of the subtrees the syntax match compares (every node with children).
  std::vector<std::string_view> syntax_subtrees() const;

 private:
  std::unique_ptr<Impl> impl_;
};

CodeBleuStats codebleu_stats(const CodeBleuPrepared& reference, const CodeBleuPrepared& hypothesis);
CodeBleuResult codebleu_from_stats(const CodeBleuStats& stats, const CodeBleuOptions& opt = {});

// One pair: the package's calc_codebleu([reference], [hypothesis], lang="python").
CodeBleuResult codebleu(std::string_view reference, std::string_view hypothesis, const CodeBleuOptions& opt = {});
CodeBleuResult codebleu(const CodeBleuPrepared& reference, const CodeBleuPrepared& hypothesis,
                        const CodeBleuOptions& opt = {});

// Many pairs, one result each, on up to `threads` threads (0 = hardware).
std::vector<CodeBleuResult> codebleu_batch(const std::vector<std::string>& references,
                                           const std::vector<std::string>& hypotheses,
                                           const CodeBleuOptions& opt = {}, unsigned threads = 0);
// The statistics of many pairs (each distinct code analysed once): per-pair results through
// codebleu_from_stats(), the corpus score through their sum.
std::vector<CodeBleuStats> codebleu_batch_stats(const std::vector<std::string>& references,
                                                const std::vector<std::string>& hypotheses,
                                                const CodeBleuOptions& opt = {}, unsigned threads = 0);
// The package's corpus score over many pairs: calc_codebleu(references, hypotheses, lang="python").
CodeBleuResult corpus_codebleu(const std::vector<std::string>& references, const std::vector<std::string>& hypotheses,
                               const CodeBleuOptions& opt = {}, unsigned threads = 0);

// CodeBERTBLEU (the paper's code reward): sqrt(codebleu * max(0, cosine)).
double code_bert_bleu(double codebleu, double cosine);

// Building blocks, exposed for tests and tools.
const std::vector<std::string>& python_keywords();  // the package's keywords/python.txt
// Python's str.strip() (Unicode whitespace) on UTF-8.
std::string python_strip(std::string_view s);
// Python's str.split() (Unicode whitespace) on UTF-8.
std::vector<std::string_view> python_split(std::string_view s);
// The package's remove_comments_and_docstrings(code, "python"); *ok = false (and the code returned
// unchanged) where Python's tokenize raises, as the package's callers then use the code as it is.
std::string remove_comments_and_docstrings(std::string_view code, bool* ok = nullptr);
// CPython 3.11 hash(str) with PYTHONHASHSEED=0, and list(set(items)) order for str items.
int64_t python_str_hash_seed0(std::string_view utf8);
std::vector<std::string> python_set_order(const std::vector<std::string>& items);

}  // namespace mtk::metrics
