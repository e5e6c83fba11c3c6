#pragma once
// Finding Manim scenes in Python source without running Python: a small tokenizer that skips
// comments and strings and reads top-level `class Name(Bases):` headers (decorators, multi-line
// headers, dotted and subscripted bases are handled).
#include <string>
#include <vector>

namespace mtk::render {

struct PyClass {
  std::string name;
  std::vector<std::string> bases;  // last dotted component, subscripts dropped: "m.Scene" -> "Scene"
  int line = 0;                    // 1-based line of the `class` keyword
};

// Top-level classes in source order.
std::vector<PyClass> scan_classes(const std::string& code);

// Scenes in source order: top-level classes deriving, directly or through other classes of the
// same file, from Scene, ThreeDScene, MovingCameraScene, ZoomedScene, VectorScene,
// LinearTransformationScene, SpecialThreeDScene or any other name ending in "Scene".
std::vector<std::string> detect_scenes(const std::string& code);

// The scene to render when the caller names none: the last-defined scene that no other scene in
// the file derives from (so a helper base class is skipped). "" when there is no scene.
std::string choose_scene(const std::string& code);

}  // namespace mtk::render
