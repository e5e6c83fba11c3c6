#pragma once
// What every run_meta.json holds (core/run_meta.hpp), checked by the tests of the three run kinds.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <string>

namespace mtk::test {

inline void check_run_meta(const nlohmann::json& meta, const std::string& kind) {
  CHECK(meta["kind"] == kind);
  CHECK_FALSE(meta["git"]["revision"].get<std::string>().empty());
  CHECK_FALSE(meta["toolkit_version"].get<std::string>().empty());
  CHECK(meta["libtorch_version"].get<std::string>().find('.') != std::string::npos);
  CHECK(meta["manim_version"] == "0.19.0");
  CHECK(meta["config"].is_object());
}

}  // namespace mtk::test
