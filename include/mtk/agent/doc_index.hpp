#pragma once
// The Manim API documentation index RITL-DOC retrieves from: a JSON file made at set-up by
// scripts/build_doc_index.py from the installed Manim (signatures and docstrings cut before
// "Examples", classes with their bases and own members, instance attributes of the scene
// classes), tagged with Manim's version.
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace mtk::agent {

struct DocEntry {
  std::string name;       // the dotted name asked for ("Circle.shift")
  std::string kind;       // class, function, method, classmethod, staticmethod, property, attribute, constant, module
  std::string owner;      // class defining a member ("Mobject" for Circle.shift); "" for top-level names
  std::string signature;  // "(self, *vectors: 'Vector3D') -> 'Self'"; "" when none
  std::string doc;        // docstring cut before "Examples"
  std::string type;       // constants, attributes and properties: the value's type name
};

class DocIndex {
 public:
  // Throws mtk::Error naming scripts/build_doc_index.py when the file is missing or malformed.
  static std::shared_ptr<const DocIndex> load(const std::filesystem::path& path);
  // <project root>/data/doc_index/manim-<installed Manim version>.json
  static std::filesystem::path default_path();
  ~DocIndex();

  // Resolves a dotted name: a public Manim name or class, then members through each class's bases
  // (inherited methods), properties and attributes whose type is known (Scene.camera -> Camera),
  // constants through their type (RED.interpolate -> ManimColor.interpolate). nullopt if unknown.
  std::optional<DocEntry> lookup(const std::string& dotted) const;
  // True when the first part of a dotted name is a Manim name (public symbol or class).
  bool knows_root(const std::string& name) const;
  // Up to n real names closest to an unknown one (same prefix resolution; the unknown part
  // compared by similarity), best first.
  std::vector<std::string> suggest(const std::string& dotted, size_t n = 3) const;
  // Names of the parameters of a callable entry's signature (no self, *args or **kwargs markers).
  static std::vector<std::string> parameter_names(const std::string& signature);

  const std::string& manim_version() const;
  size_t symbol_count() const;

 private:
  DocIndex();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Similarity of two names in [0, 1] (1 - normalised edit distance, case-insensitive; a shared
// prefix or containment ranks higher). Exposed for tests.
double name_similarity(const std::string& a, const std::string& b);

}  // namespace mtk::agent
