// `manim-bench code-score` (see include/mtk/bench/code_score.hpp).
#include "mtk/bench/code_score.hpp"

#include <nlohmann/json.hpp>

#include <cstdio>
#include <filesystem>
#include <unordered_map>

#include "mtk/core/error.hpp"
#include "mtk/core/fs.hpp"
#include "mtk/core/jsonl.hpp"
#include "mtk/core/thread_pool.hpp"
#include "mtk/data/dataset.hpp"
#include "mtk/data/prompt.hpp"
#include "mtk/metrics/codebert.hpp"

#include <memory>
#include <mutex>

namespace mtk::bench {

using nlohmann::json;
namespace stdfs = std::filesystem;

namespace {
std::string num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6f", v);
  return buf;
}
}  // namespace

std::string code_score_text(const CodeScore& s) {
  std::string o;
  o += "ngram_match           " + num(s.codebleu.ngram_match) + "\n";
  o += "weighted_ngram_match  " + num(s.codebleu.weighted_ngram_match) + "\n";
  o += "syntax_match          " + num(s.codebleu.syntax_match) + "\n";
  o += "dataflow_match        " + num(s.codebleu.dataflow_match) +
       (s.codebleu.dataflow_match == 0 ? "  (counted as 1 in CodeBLEU, as the codebleu package does)" : "") + "\n";
  o += "CodeBLEU              " + num(s.codebleu.codebleu) + "\n";
  if (s.codebert_cosine) {
    o += "CodeBERT cosine       " + num(*s.codebert_cosine) + "\n";
    o += "CBB (CodeBERTBLEU)    " + num(*s.cbb) + "\n";
  } else {
    o += "CodeBERT cosine       unavailable (" + s.unavailable_reason + ")\n";
    o += "CBB (CodeBERTBLEU)    unavailable\n";
  }
  return o;
}

CodeScoreSummary run_code_score(const CodeScoreOptions& opts, const CodeCosineFn& cosine) {
  if (opts.predictions.empty())
    throw Error("code-score needs a predictions file", "--predictions FILE.jsonl with {id, code} or {id, completion}");
  std::vector<data::Task> tasks = data::load_dataset(opts.dataset, opts.split);
  std::vector<data::Task> kept;
  for (auto& t : tasks)
    if (!t.code.empty()) kept.push_back(std::move(t));
  if (opts.limit && kept.size() > opts.limit) kept.resize(opts.limit);
  if (kept.empty()) throw Error("no task with reference code in " + opts.dataset + " (" + opts.split + ")",
                                "pick a dataset/split whose tasks have code");
  // Predictions: {"id", "code"} or {"id", "completion"} (code extracted), as `manim-bench score`.
  std::unordered_map<std::string, std::string> preds;
  read_jsonl(opts.predictions, "predictions file", [&](const json& j, size_t lineno) {
    const std::string id = json_string_field(j, "id");
    if (id.empty())
      throw Error(opts.predictions + ":" + std::to_string(lineno) + ": prediction without an \"id\"",
                  "one {\"id\", \"code\"} object per line");
    if (j.contains("code") && j["code"].is_string()) preds[id] = j["code"].get<std::string>();
    else if (j.contains("completion") && j["completion"].is_string())
      preds[id] = data::extract_code(j["completion"].get<std::string>());
    else
      throw Error(opts.predictions + ":" + std::to_string(lineno) + ": prediction needs \"code\" or \"completion\"",
                  "add one of them");
  });

  CodeScoreSummary sum;
  sum.items = kept.size();
  std::vector<std::string> refs, hyps;
  std::vector<char> has(kept.size(), 0);
  for (size_t i = 0; i < kept.size(); ++i) {
    auto it = preds.find(kept[i].id);
    refs.push_back(kept[i].code);
    hyps.push_back(it == preds.end() ? std::string() : it->second);
    if (it == preds.end()) ++sum.missing;
    has[i] = it != preds.end() && !it->second.empty();
    if (has[i]) ++sum.with_code;
  }
  // CodeBLEU statistics once per pair (each distinct code analysed once): the items and the corpus.
  const auto stats = metrics::codebleu_batch_stats(refs, hyps, opts.codebleu, opts.threads);
  std::vector<CodeScore> scores(kept.size());
  metrics::CodeBleuStats total;
  for (size_t i = 0; i < kept.size(); ++i) {
    auto& s = scores[i];
    s.codebleu = metrics::codebleu_from_stats(stats[i], opts.codebleu);
    total += stats[i];
    if (cosine) s.codebert_cosine = cosine(refs[i], hyps[i], &s.unavailable_reason);
    else s.unavailable_reason = "no CodeBERT cosine source";
    if (s.codebert_cosine) s.cbb = metrics::code_bert_bleu(s.codebleu.codebleu, *s.codebert_cosine);
  }
  sum.corpus = metrics::codebleu_from_stats(total, opts.codebleu);

  const stdfs::path out(opts.out_dir);
  stdfs::create_directories(out);
  std::string jsonl;
  double cbb_sum = 0;
  bool all_cos = true;
  for (size_t i = 0; i < kept.size(); ++i) {
    const auto& s = scores[i];
    json j{{"id", kept[i].id},
           {"type", kept[i].type},
           {"has_code", static_cast<bool>(has[i])},
           {"codebleu", s.codebleu.codebleu},
           {"ngram_match", s.codebleu.ngram_match},
           {"weighted_ngram_match", s.codebleu.weighted_ngram_match},
           {"syntax_match", s.codebleu.syntax_match},
           {"dataflow_match", s.codebleu.dataflow_match}};
    j["codebert_cosine"] = s.codebert_cosine ? json(*s.codebert_cosine) : json(nullptr);
    j["cbb"] = s.cbb ? json(*s.cbb) : json(nullptr);
    if (!s.codebert_cosine) {
      j["unavailable"] = "CodeBERT, CBB: " + s.unavailable_reason;
      all_cos = false;
      if (sum.unavailable_reason.empty()) sum.unavailable_reason = s.unavailable_reason;
    } else {
      cbb_sum += *s.cbb;
    }
    jsonl += j.dump() + "\n";
    sum.mean_codebleu += s.codebleu.codebleu;
    sum.mean_ngram += s.codebleu.ngram_match;
    sum.mean_weighted += s.codebleu.weighted_ngram_match;
    sum.mean_syntax += s.codebleu.syntax_match;
    sum.mean_dataflow += s.codebleu.dataflow_match;
  }
  const double n = static_cast<double>(kept.size());
  sum.mean_codebleu /= n;
  sum.mean_ngram /= n;
  sum.mean_weighted /= n;
  sum.mean_syntax /= n;
  sum.mean_dataflow /= n;
  if (all_cos) sum.mean_cbb = cbb_sum / n;
  fs::atomic_write(out / "results.jsonl", jsonl);
  json meta{{"dataset", opts.dataset},
            {"split", opts.split},
            {"predictions", opts.predictions},
            {"items", sum.items},
            {"with_code", sum.with_code},
            {"missing_predictions", sum.missing},
            {"mean_codebleu", sum.mean_codebleu},
            {"mean_ngram_match", sum.mean_ngram},
            {"mean_weighted_ngram_match", sum.mean_weighted},
            {"mean_syntax_match", sum.mean_syntax},
            {"mean_dataflow_match", sum.mean_dataflow},
            {"corpus_codebleu",
             {{"codebleu", sum.corpus.codebleu},
              {"ngram_match", sum.corpus.ngram_match},
              {"weighted_ngram_match", sum.corpus.weighted_ngram_match},
              {"syntax_match", sum.corpus.syntax_match},
              {"dataflow_match", sum.corpus.dataflow_match}}},
            {"zero_dataflow_as_one", opts.codebleu.zero_dataflow_as_one}};
  meta["mean_cbb"] = sum.mean_cbb ? json(*sum.mean_cbb) : json(nullptr);
  if (!sum.mean_cbb) meta["unavailable"] = "CodeBERT, CBB: " + sum.unavailable_reason;
  fs::atomic_write(out / "summary.json", meta.dump(2) + "\n");
  return sum;
}

std::string code_score_summary_text(const CodeScoreSummary& s) {
  std::string o;
  o += "items: " + std::to_string(s.items) + " (" + std::to_string(s.with_code) + " with code, " +
       std::to_string(s.missing) + " without a prediction)\n";
  o += "mean CodeBLEU         " + num(s.mean_codebleu) + "\n";
  o += "  ngram_match         " + num(s.mean_ngram) + "\n";
  o += "  weighted_ngram      " + num(s.mean_weighted) + "\n";
  o += "  syntax_match        " + num(s.mean_syntax) + "\n";
  o += "  dataflow_match      " + num(s.mean_dataflow) + "\n";
  o += "corpus CodeBLEU       " + num(s.corpus.codebleu) + "  (the package's calc_codebleu over all items)\n";
  if (s.mean_cbb) o += "mean CBB              " + num(*s.mean_cbb) + "\n";
  else o += "CodeBERT / CBB        unavailable (" + s.unavailable_reason + ")\n";
  return o;
}

}  // namespace mtk::bench
