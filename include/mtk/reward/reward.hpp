#pragma once
// The one place where a completion's scores become a reward (../shared/DESIGN.md "Fidelity"):
//   R = w_code * T + w_vis * V            (the paper: T = CBB, V = VS, weights 0.2 / 0.8)
//   R = sqrt(T * V)                       (the authors' geometric option, `--reward-aggregation geo`)
// with the authors' rules: no code extracted -> R = 0; a failed render (of the completion or of
// the reference) -> V = 0 while T still counts. The terms are chosen in the config:
//   code term   T: "CBB" (sqrt(CodeBLEU * CodeBERT cosine)) or "CodeBLEU"
//   visual term V: "VS" (sqrt(S_SSIM * S_CLIP)), "S_SSIM", "FVS" or "FVS_CLIP" (sqrt(FVS * S_CLIP))
// A configured term whose weights are missing (CLIP ViT-L/14 for VS and FVS_CLIP, CodeBERT for
// CBB) is an error naming the fetch command (check_weights): never a silent substitute.
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace mtk::reward {

enum class Aggregation { arithmetic, geometric };

struct RewardSpec {
  std::string code_term = "CBB";   // CBB | CodeBLEU | none
  std::string visual_term = "VS";  // VS | S_SSIM | FVS | FVS_CLIP | none
  double w_code = 0.2, w_visual = 0.8;
  Aggregation aggregation = Aggregation::arithmetic;

  static RewardSpec paper();  // 0.2 CBB + 0.8 VS, arithmetic
  // Throws mtk::Error naming the fix for an unknown term, aggregation or a negative weight.
  void validate() const;
  bool needs_clip() const;      // VS or FVS_CLIP
  bool needs_codebert() const;  // CBB
  std::string describe() const;  // "0.2*CBB + 0.8*VS"
};

// {"code_term": "CBB", "visual_term": "VS", "w_code": 0.2, "w_visual": 0.8, "aggregation":
// "arithmetic" | "geometric"}; missing keys keep the paper's values; unknown keys are an error.
RewardSpec spec_from_json(const nlohmann::json& j);
void to_json(nlohmann::json& j, const RewardSpec& s);

// Stops a run before its first step when a configured term's weights are absent: throws
// mtk::Error naming the missing directory and `scripts/fetch_models.sh clip|codebert`.
// Empty directories mean the defaults (models/clip-vit-large-patch14, models/codebert-base).
void check_weights(const RewardSpec& spec, const std::string& clip_dir = {}, const std::string& codebert_dir = {});

// What a completion earned, from the metrics computed for it.
struct RewardInput {
  bool has_code = false;   // code could be extracted from the completion
  bool rendered = false;   // the completion and its reference both rendered, and the videos scored
  std::map<std::string, double> code_metrics;    // "CodeBLEU", "CBB" (reward::CodeScore)
  std::map<std::string, double> visual_metrics;  // "S_SSIM", "FVS", "S_CLIP", "VS" (reward::VisualScores)
};

struct Reward {
  double reward = 0;
  double code = 0, visual = 0;  // the terms T and V as they entered R
  // Every part, for logs: "reward", "code", "visual".
  std::map<std::string, double> parts() const;
};

// Throws mtk::Error when a configured term is missing from the input although it should be there
// (has_code without the code term, rendered without the visual term): a metric that could not be
// computed must not silently count as 0.
Reward compose(const RewardSpec& spec, const RewardInput& in);

// The value of a visual term from the visual metrics (FVS_CLIP = sqrt(FVS * S_CLIP)); nullopt
// when an ingredient is missing.
std::optional<double> visual_term_value(const std::string& term, const std::map<std::string, double>& m);

}  // namespace mtk::reward
