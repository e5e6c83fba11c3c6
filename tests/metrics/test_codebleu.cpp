// CodeBLEU parity with the `codebleu` package (tests/metrics/codebleu_peer.py, run with
// PYTHONHASHSEED=0: see include/mtk/metrics/codebleu.hpp), on ManimBench code pairs.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <cmath>
#include <random>
#include <sstream>

#include "../llm/peer.hpp"
#include "codebleu_pairs.hpp"
#include "mtk/core/fs.hpp"
#include "mtk/core/error.hpp"
#include "mtk/metrics/codebleu.hpp"

using mtk::metrics::CodeBleuOptions;
using mtk::metrics::CodeBleuResult;
using nlohmann::json;

namespace {

json codebleu_peer(const json& input) {
  mtk::test::require_python_modules("codebleu, tree_sitter_python");
  const auto dir = mtk::fs::make_temp_dir(std::filesystem::temp_directory_path(), "mtk-codebleu-");
  const auto in = dir / "input.json";
  mtk::fs::atomic_write(in, input.dump());
  const auto script = mtk::fs::project_root() / "tests" / "metrics" / "codebleu_peer.py";
  const std::string cmd = "PYTHONHASHSEED=0 " + mtk::test::quote(mtk::test::python()) + " " +
                          mtk::test::quote(script.string()) + " < " + mtk::test::quote(in.string());
  const std::string out = mtk::test::run_checked(cmd);
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  return json::parse(out);
}

std::vector<std::string> manimbench_codes() {
  return mtk::testing::load_manimbench_codes(mtk::test::manimbench_path().string());
}

void require_close(const CodeBleuResult& r, const json& py, const std::string& what) {
  INFO(what);
  REQUIRE_FALSE(py.contains("error"));
  CHECK(std::abs(r.ngram_match - py["ngram_match_score"].get<double>()) <= 1e-6);
  CHECK(std::abs(r.weighted_ngram_match - py["weighted_ngram_match_score"].get<double>()) <= 1e-6);
  CHECK(std::abs(r.syntax_match - py["syntax_match_score"].get<double>()) <= 1e-6);
  CHECK(std::abs(r.dataflow_match - py["dataflow_match_score"].get<double>()) <= 1e-6);
  CHECK(std::abs(r.codebleu - py["codebleu"].get<double>()) <= 1e-6);
}

std::string show(const std::string& s) { return json(s).dump(); }

}  // namespace

TEST_CASE("CPython str hash and set order (PYTHONHASHSEED=0)", "[codebleu]") {
  std::vector<std::vector<std::string>> lists;
  std::mt19937 rng(7);
  const std::vector<std::string> pool = {"self", "x", "axes", "circle", "y", "a1", "b", "square", "text",
                                         "np", "VGroup", "i", "j", "dot", "\"hello\"", "'é'", "→", "数学",
                                         "😀", "", "UP", "DOWN", "0.5", "graph", "label", "t", "value"};
  for (int k = 0; k < 60; ++k) {
    std::vector<std::string> l;
    const size_t n = 1 + rng() % 24;
    for (size_t i = 0; i < n; ++i) l.push_back(pool[rng() % pool.size()]);
    lists.push_back(l);
  }
  const json py = codebleu_peer({{"mode", "setorder"}, {"lists", lists}});
  const json hashes = codebleu_peer({{"mode", "hash"}, {"strings", pool}});
  for (size_t i = 0; i < pool.size(); ++i)
    CHECK(mtk::metrics::python_str_hash_seed0(pool[i]) == hashes[i].get<int64_t>());
  for (size_t k = 0; k < lists.size(); ++k)
    CHECK(mtk::metrics::python_set_order(lists[k]) == py[k].get<std::vector<std::string>>());
}

TEST_CASE("remove_comments_and_docstrings matches the package (tokenize)", "[codebleu]") {
  const auto codes = manimbench_codes();
  std::vector<std::string> inputs;
  std::mt19937 rng(11);
  for (size_t i = 0; i < codes.size(); i += 2) inputs.push_back(mtk::metrics::python_strip(codes[i]));
  for (int k = 0; k < 80; ++k) inputs.push_back(mtk::testing::break_code(codes[rng() % codes.size()], rng));
  inputs.insert(inputs.end(), {"", "x = 1  # c", "def f():\n    \"\"\"doc\"\"\"\n    return 1\n", "a = (1,\n  2",
                               "s = '''open", "x = 1 + \\\n    2", "if x:\n        y\n    z", "\tx = 1\n\ty = 2",
                               "f(\n  'kept'\n)\n'dropped'", "x = 1\r\ny = 2\r\n", "$ ? !", "print(f\"{x}\") # é"});
  const json py = codebleu_peer({{"mode", "remove"}, {"codes", inputs}});
  size_t failed = 0;
  for (size_t i = 0; i < inputs.size(); ++i) {
    bool ok = true;
    const std::string ours = mtk::metrics::remove_comments_and_docstrings(inputs[i], &ok);
    INFO("input " << i << ": " << show(inputs[i]));
    if (py[i].is_null()) {
      ++failed;
      CHECK_FALSE(ok);
    } else {
      CHECK(ok);
      CHECK(ours == py[i].get<std::string>());
    }
  }
  CHECK(failed > 5);  // the broken variants include tokenize failures
}

TEST_CASE("CodeBLEU matches the codebleu package on ManimBench pairs", "[codebleu]") {
  const auto pairs = mtk::testing::codebleu_pairs(manimbench_codes());
  REQUIRE(pairs.size() >= 200);
  json jp = json::array();
  std::vector<std::string> refs, hyps;
  for (const auto& p : pairs) {
    jp.push_back({p.reference, p.hypothesis});
    refs.push_back(p.reference);
    hyps.push_back(p.hypothesis);
  }
  const json py = codebleu_peer({{"mode", "score"}, {"pairs", jp}});
  REQUIRE(py.size() == pairs.size());
  const auto ours = mtk::metrics::codebleu_batch(refs, hyps, {}, 2);
  std::map<std::string, int> per_kind;
  size_t zero_df = 0;
  for (size_t i = 0; i < pairs.size(); ++i) {
    require_close(ours[i], py[i],
                  "pair " + std::to_string(i) + " (" + pairs[i].kind + ")\nref: " + show(pairs[i].reference) +
                      "\nhyp: " + show(pairs[i].hypothesis));
    ++per_kind[pairs[i].kind];
    if (py[i]["dataflow_match_score"].get<double>() == 0) ++zero_df;
  }
  CHECK(per_kind["self"] >= 40);
  CHECK(per_kind["invalid"] >= 30);
  CHECK(zero_df > 5);  // the "or 1" path is exercised
  // One pair at a time gives the batch's numbers.
  const auto single = mtk::metrics::codebleu(refs[60], hyps[60]);
  CHECK(single.codebleu == ours[60].codebleu);
}

TEST_CASE("Corpus CodeBLEU matches calc_codebleu over many pairs", "[codebleu]") {
  const auto all = mtk::testing::codebleu_pairs(manimbench_codes());
  json jp = json::array();
  std::vector<std::string> refs, hyps;
  for (size_t i = 0; i < all.size(); i += 5) {
    jp.push_back({all[i].reference, all[i].hypothesis});
    refs.push_back(all[i].reference);
    hyps.push_back(all[i].hypothesis);
  }
  const json py = codebleu_peer({{"mode", "corpus"}, {"pairs", jp}});
  require_close(mtk::metrics::corpus_codebleu(refs, hyps), py, "corpus");
}

TEST_CASE("CodeBLEU: the package's own test examples (Python)", "[codebleu]") {
  // tests/test_codebleu.py of codebleu 0.7.0: (prediction, reference, expected CodeBLEU, rel. tol 0.01).
  struct Case {
    std::string pred, ref;
    double expected;
  };
  const std::vector<Case> cases = {
      {"some rannnndom words in length more than 3", "def test ( ) :\n pass", 0.25},
      {"def bar ( y , x ) :\n    a = x * x\n    return a", "def foo ( x ) :\n    return x", 0.36},
      {"def foo ( x ) :\n    return x * x", "def bar ( x ) :\n    return x", 0.61},
      {"def bar ( x ) :\n    return x", "def foo ( x ) :\n    return x", 0.85},
      {"def foo ( x ) :\n    return x", "def foo ( x ) :\n    return x", 1.0},
      {"some matching string a couple of times", "some matching string a couple of times", 1.0},
      {"def foo ( x ) : pass", "def foo ( x ) : pass", 1.0},
  };
  json jp = json::array();
  for (const auto& c : cases) jp.push_back({c.ref, c.pred});
  const json py = codebleu_peer({{"mode", "score"}, {"pairs", jp}});
  for (size_t i = 0; i < cases.size(); ++i) {
    const auto r = mtk::metrics::codebleu(cases[i].ref, cases[i].pred);
    INFO(cases[i].pred);
    CHECK(r.codebleu == Approx(cases[i].expected).epsilon(0.01));
    require_close(r, py[i], "golden " + std::to_string(i));
  }
  // test_simple_cases_work_for_all_langs (python): about 0.6 (rel. tol 0.1).
  const auto r = mtk::metrics::codebleu("def bar ( y ) :\n    return y", "def foo ( x ) :\n    return x");
  CHECK(r.codebleu == Approx(0.6).epsilon(0.1));
  // test_finite_processing_time_in_bug_testcase: 13 nested for loops (the DFG walks each loop body
  // twice: 2^13 visits); it must finish and agree with the package.
  std::string gen = "def foo(n):\n";
  std::string ind = "   ";
  const char* vars = "ijklmnopqrst";
  for (int d = 0; d < 13; ++d) {
    gen += ind + "for " + std::string(1, d < 12 ? vars[d] : 't') + " in range(n):\n";
    ind += "    ";
  }
  gen += ind + "pass\n";
  const std::string ref = "def foo(n):\n    pass";
  const json pyb = codebleu_peer({{"mode", "score"}, {"pairs", json::array({json::array({ref, gen})})}});
  require_close(mtk::metrics::codebleu(ref, gen), pyb[0], "nested loops");
}

TEST_CASE("CodeBLEU options and CodeBERTBLEU", "[codebleu]") {
  // A reference without data flow: the package counts the zero score as 1.
  const auto r = mtk::metrics::codebleu("print('hello')", "x = 1\ny = x");
  CHECK(r.dataflow_match == 0.0);
  CodeBleuOptions strict;
  strict.zero_dataflow_as_one = false;
  const auto s = mtk::metrics::codebleu("print('hello')", "x = 1\ny = x", strict);
  CHECK(s.codebleu == Approx(r.codebleu - 0.25));
  CodeBleuOptions w;
  w.weights = {1, 0, 0, 0};
  const auto b = mtk::metrics::codebleu("x = a + b", "x = a + c", w);
  CHECK(b.codebleu == Approx(b.ngram_match));
  // The two set orders agree wherever no merged name list has two different names.
  CodeBleuOptions sorted;
  sorted.set_order = CodeBleuOptions::SetOrder::sorted;
  const std::string loop = "for i in range(3):\n    x = i\n";
  CHECK(mtk::metrics::codebleu(loop, loop, sorted).codebleu == 1.0);
  CHECK(mtk::metrics::code_bert_bleu(0.64, 0.81) == Approx(0.72));
  CHECK(mtk::metrics::code_bert_bleu(0.5, -0.2) == 0.0);
  CHECK_THROWS_AS(mtk::metrics::codebleu_batch({"a"}, {"a", "b"}), mtk::Error);
}

TEST_CASE("Our S-expression writer agrees with the tree-sitter runtime's on error-free trees", "[codebleu]") {
  // Every ManimBench reference plus token-level edits of each: the subtree strings the syntax match
  // compares must be byte-identical whichever writer produced them.
  CodeBleuOptions runtime;
  runtime.runtime_sexp = true;
  std::mt19937 rng(7);
  size_t trees = 0, subtrees = 0;
  for (const auto& code : manimbench_codes()) {
    std::vector<std::string> variants = {code};
    std::string edited = code;
    for (int k = 0; k < 3 && !edited.empty(); ++k) {
      size_t at = rng() % edited.size();
      while (at > 0 && (static_cast<unsigned char>(edited[at]) & 0xC0) == 0x80) --at;  // a character boundary
      edited.insert(at, k == 0 ? "x" : k == 1 ? "(" : ")");
    }
    variants.push_back(edited);
    for (const auto& v : variants) {
      const mtk::metrics::CodeBleuPrepared ours(v), theirs(v, runtime);
      const auto a = ours.syntax_subtrees(), b = theirs.syntax_subtrees();
      INFO(show(v));
      REQUIRE(a.size() == b.size());
      for (size_t i = 0; i < a.size(); ++i) REQUIRE(a[i] == b[i]);
      ++trees;
      subtrees += a.size();
    }
  }
  CHECK(trees >= 800);
  CHECK(subtrees > 40000);
}

TEST_CASE("CodeBLEU n-gram counts past 65536 distinct tokens (the byte-string key path)", "[codebleu]") {
  // Token ids pack four to a 64-bit key below 2^16 distinct tokens; more take the byte-string keys.
  std::string big, half;
  for (int i = 0; i < 35000; ++i) {
    const std::string line = "v" + std::to_string(i) + " = w" + std::to_string(i) + "\n";
    big += line;
    if (i % 2 == 0) half += line;
  }
  const auto self = mtk::metrics::codebleu(big, big);
  CHECK(self.ngram_match == Approx(1.0).margin(1e-12));
  CHECK(self.weighted_ngram_match == Approx(1.0).margin(1e-12));
  CHECK(self.syntax_match == Approx(1.0).margin(1e-12));
  // Every hypothesis n-gram that lies within one line ("vK = wK") also occurs in the reference: the
  // unigram precision is 1; n-grams across lines of the halved code mostly do not.
  mtk::metrics::CodeBleuStats st = mtk::metrics::codebleu_stats(mtk::metrics::CodeBleuPrepared(big),
                                                                mtk::metrics::CodeBleuPrepared(half));
  CHECK(st.ngram_num[0] == st.ngram_den[0]);
  CHECK(st.ngram_den[0] == 3 * 17500);
  CHECK(st.ngram_num[2] == 17500);  // the "vK = wK" trigrams
  CHECK(st.weighted_den[0] == Approx(0.2 * 105000));
}
