// The tree-sitter Python wrapper (include/mtk/data/python_syntax.hpp).
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "mtk/data/python_syntax.hpp"

using mtk::data::PythonParser;
using mtk::data::SyntaxNode;

TEST_CASE("Python syntax: nodes, fields, positions, text", "[python_syntax]") {
  PythonParser parser;
  CHECK(PythonParser::grammar_abi_version() <= PythonParser::runtime_abi_version());
  const std::string code = "from manim import *\n\nclass A(Scene):\n    def construct(self):\n        c = Circle(radius=2)\n        self.play(Create(c))\n";
  auto tree = parser.parse(code);
  const SyntaxNode root = tree.root();
  REQUIRE(root);
  CHECK(std::string(root.type()) == "module");
  CHECK_FALSE(tree.has_error());
  CHECK(root.named_child_count() == 2);
  const SyntaxNode cls = root.named_child(1);
  CHECK(std::string(cls.type()) == "class_definition");
  CHECK(cls.child_by_field("name").text() == "A");
  CHECK(cls.start_point() == mtk::data::SyntaxPoint{2, 0});
  CHECK(cls.child_by_field("nonexistent").valid() == false);
  CHECK(cls.parent() == root);
  // Children include anonymous tokens; named_children only the named ones.
  std::vector<std::string> types;
  for (const auto& c : cls.children()) types.push_back(c.type());
  CHECK(types == std::vector<std::string>{"class", "identifier", "argument_list", ":", "block"});
  CHECK(cls.named_children().size() == 3);
  CHECK(cls.child(0).next_sibling() == cls.child(1));
  CHECK(cls.child(1).prev_sibling() == cls.child(0));
  CHECK(std::string(cls.field_name_for_child(1)) == "name");

  // The walk finds the calls with their callee text, in source order.
  std::vector<std::string> calls;
  tree.walk([&](const SyntaxNode& n, int, const char*) {
    if (std::string(n.type()) == "call") calls.emplace_back(n.child_by_field("function").text());
    return true;
  });
  CHECK(calls == std::vector<std::string>{"Circle", "self.play", "Create"});

  // The flat tree has the same nodes in preorder.
  const auto flat = tree.flatten();
  size_t walked = 0;
  tree.walk([&](const SyntaxNode& n, int, const char*) {
    REQUIRE(walked < flat.nodes.size());
    CHECK(std::string(flat.nodes[walked].type) == n.type());
    CHECK(flat.nodes[walked].start_byte == n.start_byte());
    ++walked;
    return true;
  });
  CHECK(walked == flat.nodes.size());
  const int32_t name = flat.child_by_field(static_cast<uint32_t>(flat.child_ids[flat.nodes[0].children_begin + 1]), "name");
  REQUIRE(name >= 0);
  CHECK(std::string(flat.nodes[name].type) == "identifier");
  CHECK(root.sexp().rfind("(module (import_from_statement", 0) == 0);
}

TEST_CASE("Python syntax: errors, missing nodes, non-ASCII", "[python_syntax]") {
  PythonParser parser;
  auto bad = parser.parse("def f(:\n    return $\n");
  CHECK(bad.has_error());
  bool saw_error = false;
  bad.walk([&](const SyntaxNode& n, int, const char*) {
    saw_error |= n.is_error();
    return true;
  });
  CHECK(saw_error);
  auto missing = parser.parse("for i in range(3:\n    pass\n");  // (MISSING ")")
  bool saw_missing = false;
  missing.walk([&](const SyntaxNode& n, int, const char*) {
    saw_missing |= n.is_missing();
    return true;
  });
  CHECK(saw_missing);
  CHECK(missing.sexp().find("(MISSING \")\")") != std::string::npos);
  // Columns are bytes: "é" is two bytes in UTF-8.
  auto t = parser.parse("s = 'é'\ny = s\n");
  const SyntaxNode y = t.root().named_child(1).named_child(0).child_by_field("left");
  CHECK(y.text() == "y");
  const SyntaxNode str = t.root().named_child(0).named_child(0).child_by_field("right");
  CHECK(str.end_point().column == 8);  // s, space, =, space, quote, 2 bytes, quote
  CHECK(str.text() == "'é'");
  // Skipping children in the walk.
  int visited = 0;
  t.walk([&](const SyntaxNode&, int depth, const char*) {
    ++visited;
    return depth < 1;
  });
  CHECK(visited == 3);
  // A moved tree keeps its nodes valid.
  auto moved = std::move(t);
  CHECK(moved.root().named_child(1).text() == "y = s");
}
