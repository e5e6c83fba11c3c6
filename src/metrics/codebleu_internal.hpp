#pragma once
// Internals of the CodeBLEU implementation (src/metrics/codebleu*.cpp).
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "mtk/data/python_syntax.hpp"
#include "mtk/metrics/codebleu.hpp"

namespace mtk::metrics::cb {

// UTF-8 <-> code points. Invalid bytes decode to U+FFFD (the package only sees valid text).
std::u32string utf8_decode(std::string_view s);
void utf8_append(std::string& out, char32_t c);
std::string utf8_encode(std::u32string_view s);
bool py_isspace(char32_t c);

// Python set iteration order (CPython 3.11, PYTHONHASHSEED=0) of a list of interned names.
// hashes[i] is the hash of name id i; the result lists each distinct id once.
std::vector<int> py_set_order_ids(const std::vector<int>& items, const std::vector<int64_t>& hashes);

// Normalized data-flow edge: (var, relation, parent vars) after the package's renaming.
struct NormEdge {
  int var;
  bool computed;  // "computedFrom" (else "comesFrom")
  std::vector<int> parents;
  bool operator==(const NormEdge& o) const {
    return var == o.var && computed == o.computed && parents == o.parents;
  }
};

// The package's get_data_flow + normalize_dataflow for Python code already parsed.
std::vector<NormEdge> python_dataflow(const mtk::data::FlatSyntaxTree& tree, const std::string& code,
                                      CodeBleuOptions::SetOrder order);

}  // namespace mtk::metrics::cb
