#include "mtk/reward/reward.hpp"

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "mtk/core/error.hpp"
#include "mtk/core/fs.hpp"

namespace mtk::reward {

namespace {

const char* const kCodeTerms[] = {"CBB", "CodeBLEU", "none"};
const char* const kVisualTerms[] = {"VS", "S_SSIM", "FVS", "FVS_CLIP", "none"};

template <size_t N>
bool one_of(const std::string& s, const char* const (&names)[N]) {
  for (const char* n : names)
    if (s == n) return true;
  return false;
}

template <size_t N>
std::string listed(const char* const (&names)[N]) {
  std::string out;
  for (const char* n : names) out += (out.empty() ? "" : ", ") + std::string(n);
  return out;
}

std::string num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

}  // namespace

RewardSpec RewardSpec::paper() { return RewardSpec{}; }

void RewardSpec::validate() const {
  if (!one_of(code_term, kCodeTerms))
    throw Error("unknown reward code term '" + code_term + "'", "use one of " + listed(kCodeTerms));
  if (!one_of(visual_term, kVisualTerms))
    throw Error("unknown reward visual term '" + visual_term + "'", "use one of " + listed(kVisualTerms));
  if (!(w_code >= 0) || !(w_visual >= 0) || !std::isfinite(w_code) || !std::isfinite(w_visual))
    throw Error("reward weights must be finite and >= 0 (w_code " + num(w_code) + ", w_visual " + num(w_visual) + ")",
                "set reward.w_code and reward.w_visual, e.g. 0.2 and 0.8 (the paper)");
  if (code_term == "none" && visual_term == "none")
    throw Error("the reward has no term (code_term and visual_term are both none)", "choose at least one term");
  if (aggregation == Aggregation::geometric && (code_term == "none" || visual_term == "none"))
    throw Error("the geometric reward sqrt(T * V) needs both a code and a visual term",
                "set both terms, or use the arithmetic aggregation");
}

bool RewardSpec::needs_clip() const { return visual_term == "VS" || visual_term == "FVS_CLIP"; }
bool RewardSpec::needs_codebert() const { return code_term == "CBB"; }

std::string RewardSpec::describe() const {
  if (aggregation == Aggregation::geometric) return "sqrt(" + code_term + " * " + visual_term + ")";
  std::string out;
  if (code_term != "none") out += num(w_code) + "*" + code_term;
  if (visual_term != "none") out += (out.empty() ? "" : " + ") + num(w_visual) + "*" + visual_term;
  return out;
}

RewardSpec spec_from_json(const nlohmann::json& j) {
  if (!j.is_object()) throw Error("the reward config must be a JSON object", "e.g. {\"code_term\": \"CBB\", \"visual_term\": \"VS\"}");
  RewardSpec s;
  for (const auto& [k, v] : j.items()) {
    try {
      if (k == "code_term") s.code_term = v.get<std::string>();
      else if (k == "visual_term") s.visual_term = v.get<std::string>();
      else if (k == "w_code") s.w_code = v.get<double>();
      else if (k == "w_visual") s.w_visual = v.get<double>();
      else if (k == "aggregation") {
        const std::string a = v.get<std::string>();
        if (a == "arithmetic") s.aggregation = Aggregation::arithmetic;
        else if (a == "geometric") s.aggregation = Aggregation::geometric;
        else throw Error("unknown reward aggregation '" + a + "'", "use arithmetic or geometric");
      } else {
        throw Error("unknown reward key '" + k + "'", "use code_term, visual_term, w_code, w_visual, aggregation");
      }
    } catch (const nlohmann::json::exception&) {
      throw Error("reward key '" + k + "' has the wrong type", "terms and aggregation are strings, weights numbers");
    }
  }
  s.validate();
  return s;
}

void to_json(nlohmann::json& j, const RewardSpec& s) {
  j = nlohmann::json{{"code_term", s.code_term},
                     {"visual_term", s.visual_term},
                     {"w_code", s.w_code},
                     {"w_visual", s.w_visual},
                     {"aggregation", s.aggregation == Aggregation::geometric ? "geometric" : "arithmetic"}};
}

void check_weights(const RewardSpec& spec, const std::string& clip_dir, const std::string& codebert_dir) {
  namespace stdfs = std::filesystem;
  const stdfs::path models = fs::project_root() / "models";
  auto require = [](const stdfs::path& dir, std::initializer_list<const char*> files, const std::string& what,
                    const char* fetch) {
    for (const char* f : files)
      if (!stdfs::exists(dir / f))
        throw Error("the reward needs " + what + ", but " + (dir / f).string() + " is missing",
                    std::string("fetch the weights with scripts/fetch_models.sh ") + fetch +
                        ", or choose a reward term that does not need them");
  };
  if (spec.needs_clip())
    require(clip_dir.empty() ? models / "clip-vit-large-patch14" : stdfs::path(clip_dir),
            {"config.json", "model.safetensors"}, "CLIP ViT-L/14 for " + spec.visual_term, "clip");
  if (spec.needs_codebert())
    require(codebert_dir.empty() ? models / "codebert-base" : stdfs::path(codebert_dir),
            {"config.json", "vocab.json", "merges.txt", "model.safetensors"}, "CodeBERT for CBB", "codebert");
}

std::optional<double> visual_term_value(const std::string& term, const std::map<std::string, double>& m) {
  auto get = [&](const char* k) -> std::optional<double> {
    auto it = m.find(k);
    if (it == m.end()) return std::nullopt;
    return it->second;
  };
  if (term == "FVS_CLIP") {
    auto fvs = get("FVS"), clip = get("S_CLIP");
    if (!fvs || !clip) return std::nullopt;
    return std::sqrt(std::max(0.0, *fvs) * std::max(0.0, *clip));
  }
  return get(term.c_str());
}

std::map<std::string, double> Reward::parts() const { return {{"reward", reward}, {"code", code}, {"visual", visual}}; }

Reward compose(const RewardSpec& spec, const RewardInput& in) {
  Reward r;
  if (!in.has_code) return r;  // the authors: nothing extracted, R = 0
  if (spec.code_term != "none") {
    auto it = in.code_metrics.find(spec.code_term);
    if (it == in.code_metrics.end())
      throw Error("the reward's code term " + spec.code_term + " was not computed for this completion",
                  spec.needs_codebert() ? "fetch CodeBERT (scripts/fetch_models.sh codebert)" : "compute the code metrics first");
    r.code = it->second;
  }
  if (spec.visual_term != "none" && in.rendered) {
    auto v = visual_term_value(spec.visual_term, in.visual_metrics);
    if (!v)
      throw Error("the reward's visual term " + spec.visual_term + " was not computed for this completion",
                  spec.needs_clip() ? "fetch CLIP (scripts/fetch_models.sh clip)" : "compute the visual metrics first");
    r.visual = *v;
  }  // a failed render: V = 0, T still counts (the authors' behaviour)
  if (spec.aggregation == Aggregation::geometric) r.reward = std::sqrt(std::max(0.0, r.code) * std::max(0.0, r.visual));
  else r.reward = (spec.code_term != "none" ? spec.w_code * r.code : 0.0) + (spec.visual_term != "none" ? spec.w_visual * r.visual : 0.0);
  return r;
}

}  // namespace mtk::reward
