#include "mtk/render/result.hpp"

#include <array>
#include <nlohmann/json.hpp>

#include "mtk/core/error.hpp"

namespace mtk::render {

namespace {
constexpr std::array<std::pair<FailureClass, std::string_view>, 16> kNames{{
    {FailureClass::none, "none"},
    {FailureClass::syntax, "syntax"},
    {FailureClass::import, "import"},
    {FailureClass::name, "name"},
    {FailureClass::attribute, "attribute"},
    {FailureClass::type, "type"},
    {FailureClass::value, "value"},
    {FailureClass::runtime, "runtime"},
    {FailureClass::latex, "latex"},
    {FailureClass::timeout, "timeout"},
    {FailureClass::memory, "memory"},
    {FailureClass::killed, "killed"},
    {FailureClass::no_scene, "no_scene"},
    {FailureClass::no_output, "no_output"},
    {FailureClass::sandbox, "sandbox"},
    {FailureClass::disk, "disk"},
}};
}  // namespace

std::string_view to_string(FailureClass c) {
  for (const auto& [k, v] : kNames)
    if (k == c) return v;
  return "unknown";
}

FailureClass failure_from_string(std::string_view s) {
  for (const auto& [k, v] : kNames)
    if (v == s) return k;
  std::string all;
  for (const auto& kv : kNames) all += (all.empty() ? "" : ", ") + std::string(kv.second);
  throw Error("unknown render failure class '" + std::string(s) + "'", "use one of: " + all);
}

bool is_deterministic(FailureClass c) {
  switch (c) {
    case FailureClass::timeout:
    case FailureClass::memory:
    case FailureClass::killed:
    case FailureClass::sandbox:
    case FailureClass::disk:  // depends on the configured quota
      return false;
    default:
      return true;
  }
}

void to_json(nlohmann::json& j, const RenderResult& r) {
  j = nlohmann::json{{"id", r.id},
                     {"success", r.success},
                     {"failure", std::string(to_string(r.failure))},
                     {"scene", r.scene},
                     {"output", r.output.string()},
                     {"still", r.still},
                     {"stdout", r.stdout_text},
                     {"stderr", r.stderr_text},
                     {"exit_code", r.exit_code},
                     {"signal", r.signal},
                     {"timed_out", r.timed_out},
                     {"duration_s", r.duration_s},
                     {"cached", r.cached},
                     {"error_line", r.error_line}};
}

void from_json(const nlohmann::json& j, RenderResult& r) {
  r = RenderResult{};
  r.id = j.value("id", "");
  r.success = j.value("success", false);
  r.failure = failure_from_string(j.value("failure", "none"));
  r.scene = j.value("scene", "");
  r.output = j.value("output", "");
  r.still = j.value("still", false);
  r.stdout_text = j.value("stdout", "");
  r.stderr_text = j.value("stderr", "");
  r.exit_code = j.value("exit_code", -1);
  r.signal = j.value("signal", 0);
  r.timed_out = j.value("timed_out", false);
  r.duration_s = j.value("duration_s", 0.0);
  r.cached = j.value("cached", false);
  r.error_line = j.value("error_line", "");
}

}  // namespace mtk::render
