// CodeBERT cosine (codebert.hpp).
#include "mtk/metrics/codebert.hpp"

#include <cmath>
#include <filesystem>

#include "mtk/core/error.hpp"
#include "mtk/core/fs.hpp"
#include "mtk/encoders/encoder_text.hpp"
#include "mtk/encoders/encoder_tokenizer.hpp"

namespace mtk::metrics {

namespace stdfs = std::filesystem;

struct CodeBertScorer::Impl {
  CodeBertOptions opts;
  std::unique_ptr<encoders::BpeTokenizer> tok;
  std::optional<encoders::TextEncoder> enc;
};

CodeBertScorer::CodeBertScorer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
CodeBertScorer::CodeBertScorer(CodeBertScorer&&) noexcept = default;
CodeBertScorer& CodeBertScorer::operator=(CodeBertScorer&&) noexcept = default;
CodeBertScorer::~CodeBertScorer() = default;
const CodeBertOptions& CodeBertScorer::options() const { return impl_->opts; }

std::string CodeBertScorer::default_dir() { return (fs::project_root() / "models" / "codebert-base").string(); }

namespace {

std::string missing_file(const stdfs::path& dir) {
  for (const char* f : {"config.json", "vocab.json", "merges.txt", "model.safetensors"}) {
    std::error_code ec;
    if (!stdfs::exists(dir / f, ec)) return (dir / f).string();
  }
  return {};
}

}  // namespace

CodeBertScorer CodeBertScorer::load(const std::string& dir, const CodeBertOptions& opts) {
  const std::string missing = missing_file(dir);
  if (!missing.empty()) {
    throw Error("CodeBERT weights are missing: no " + missing,
                "run scripts/fetch_models.sh codebert (microsoft/codebert-base), or pass its directory");
  }
  auto impl = std::make_unique<Impl>();
  impl->opts = opts;
  impl->tok = encoders::load_roberta_tokenizer((stdfs::path(dir) / "vocab.json").string(), (stdfs::path(dir) / "merges.txt").string());
  encoders::TextEncoderOptions eo;
  eo.device = opts.device;
  impl->enc.emplace(encoders::TextEncoder::load(dir, eo));
  if (!impl->enc->config().roberta()) {
    throw Error(dir + " is not a RoBERTa model (model_type " + impl->enc->config().model_type + ")",
                "use microsoft/codebert-base");
  }
  const size_t cap = static_cast<size_t>(impl->enc->max_tokens());
  if (impl->opts.max_length > cap) impl->opts.max_length = cap;
  return CodeBertScorer(std::move(impl));
}

std::optional<CodeBertScorer> CodeBertScorer::try_load(const std::string& dir, const CodeBertOptions& opts,
                                                       std::string* why) {
  const std::string missing = missing_file(dir);
  if (!missing.empty()) {
    if (why) *why = "no CodeBERT weights (" + missing + " missing; scripts/fetch_models.sh codebert)";
    return std::nullopt;
  }
  return load(dir, opts);
}

std::vector<int32_t> CodeBertScorer::tokenize(std::string_view code) const {
  return encoders::roberta_encode(*impl_->tok, code, impl_->opts.max_length);
}

double CodeBertScorer::cosine_ids(const std::vector<int32_t>& a, const std::vector<int32_t>& b) const {
  const auto out = impl_->enc->forward({a, b});
  const auto e = encoders::TextEncoder::pool(out, impl_->opts.masked_mean ? encoders::Pooling::masked_mean
                                                                     : encoders::Pooling::padded_mean);
  double dot = 0, na = 0, nb = 0;
  for (size_t k = 0; k < e[0].size(); ++k) {
    dot += double(e[0][k]) * e[1][k];
    na += double(e[0][k]) * e[0][k];
    nb += double(e[1][k]) * e[1][k];
  }
  return dot / std::max(std::sqrt(na) * std::sqrt(nb), 1e-8);
}

double CodeBertScorer::cosine(std::string_view a, std::string_view b) const { return cosine_ids(tokenize(a), tokenize(b)); }

CodeBertResult codebert_cosine(const CodeBertScorer* scorer, std::string_view a, std::string_view b) {
  CodeBertResult r;
  if (!scorer) {
    r.note = "CodeBERT cosine unavailable: no weights (scripts/fetch_models.sh codebert)";
    return r;
  }
  r.available = true;
  r.cosine = scorer->cosine(a, b);
  return r;
}

}  // namespace mtk::metrics
