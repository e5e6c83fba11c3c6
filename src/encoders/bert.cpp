// BERT / RoBERTa text encoders (encoder_text.hpp) on the shared encoder core (encoder.hpp).
#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <filesystem>
#include <fstream>

#include "mtk/core/error.hpp"
#include "mtk/encoders/encoder.hpp"
#include "mtk/encoders/encoder_text.hpp"
#include "mtk/llm/safetensors.hpp"

namespace mtk::encoders {

using llm::SafeTensorInfo;
using llm::safetensor_to_f32;

namespace stdfs = std::filesystem;

TextEncoderConfig text_encoder_config_from_json(const nlohmann::json& j) {
  if (!j.is_object()) throw Error("text encoder config.json is not a JSON object", "use the model's config.json");
  TextEncoderConfig c;
  c.model_type = j.value("model_type", std::string("bert"));
  if (c.model_type != "bert" && c.model_type != "roberta") {
    throw Error("unsupported text encoder model_type \"" + c.model_type + "\"", "use a BERT or RoBERTa checkpoint");
  }
  if (c.roberta()) c.pad_id = 1;
  auto get = [&](const char* key, auto& dst) {
    if (!j.contains(key) || j.at(key).is_null()) return;
    try {
      dst = j.at(key).get<std::decay_t<decltype(dst)>>();
    } catch (const std::exception&) {
      throw Error(std::string("config.json: \"") + key + "\" has the wrong type", "use the model's config.json");
    }
  };
  get("hidden_size", c.hidden);
  get("num_attention_heads", c.heads);
  get("intermediate_size", c.intermediate);
  get("num_hidden_layers", c.layers);
  get("vocab_size", c.vocab);
  get("max_position_embeddings", c.max_positions);
  get("type_vocab_size", c.type_vocab);
  get("pad_token_id", c.pad_id);
  get("layer_norm_eps", c.eps);
  get("hidden_act", c.act);
  encoder::parse_activation(c.act);
  if (j.value("position_embedding_type", std::string("absolute")) != "absolute") {
    throw Error("only absolute position embeddings are supported", "use a BERT/RoBERTa checkpoint with absolute positions");
  }
  if (c.hidden <= 0 || c.heads <= 0 || c.hidden % c.heads || c.layers <= 0 || c.intermediate <= 0 || c.vocab <= 0 ||
      c.type_vocab <= 0 || c.pad_id < 0 || c.pad_id >= c.vocab || c.max_positions <= (c.roberta() ? c.pad_id + 1 : 0)) {
    throw Error("text encoder config.json has inconsistent sizes", "use the config.json that came with the weights");
  }
  return c;
}

std::vector<int64_t> roberta_position_ids(const std::vector<int32_t>& ids, int32_t pad_id) {
  std::vector<int64_t> pos(ids.size());
  int64_t count = 0;
  for (size_t t = 0; t < ids.size(); ++t) {
    if (ids[t] != pad_id) {
      ++count;
      pos[t] = count + pad_id;
    } else {
      pos[t] = pad_id;
    }
  }
  return pos;
}

struct TextEncoder::Impl {
  TextEncoderConfig cfg;
  encoder::Config enc;
  at::Device device{at::kCPU};
  at::Tensor word, pos, type, ln_w, ln_b;
  std::vector<encoder::Layer> layers;
};

TextEncoder::TextEncoder(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
TextEncoder::TextEncoder(TextEncoder&&) noexcept = default;
TextEncoder& TextEncoder::operator=(TextEncoder&&) noexcept = default;
TextEncoder::~TextEncoder() = default;
const TextEncoderConfig& TextEncoder::config() const { return impl_->cfg; }

int TextEncoder::max_tokens() const {
  const auto& c = impl_->cfg;
  return c.roberta() ? c.max_positions - c.pad_id - 1 : c.max_positions;
}

namespace {

const encoder::LayerNames kBertLayerNames{
    "attention.self.query.weight",        "attention.self.query.bias",
    "attention.self.key.weight",          "attention.self.key.bias",
    "attention.self.value.weight",        "attention.self.value.bias",
    "attention.output.dense.weight",      "attention.output.dense.bias",
    "attention.output.LayerNorm.weight",  "attention.output.LayerNorm.bias",
    "output.LayerNorm.weight",            "output.LayerNorm.bias",
    "intermediate.dense.weight",          "intermediate.dense.bias",
    "output.dense.weight",                "output.dense.bias"};

}  // namespace

std::vector<std::pair<std::string, std::vector<int64_t>>> TextEncoder::tensor_shapes(const TextEncoderConfig& c) {
  const int64_t h = c.hidden, f = c.intermediate;
  std::vector<std::pair<std::string, std::vector<int64_t>>> out = {
      {"embeddings.word_embeddings.weight", {c.vocab, h}},
      {"embeddings.position_embeddings.weight", {c.max_positions, h}},
      {"embeddings.token_type_embeddings.weight", {c.type_vocab, h}},
      {"embeddings.LayerNorm.weight", {h}},
      {"embeddings.LayerNorm.bias", {h}},
  };
  const auto& n = kBertLayerNames;
  for (int i = 0; i < c.layers; ++i) {
    const std::string L = "encoder.layer." + std::to_string(i) + ".";
    for (const auto& [name, shape] : std::vector<std::pair<std::string, std::vector<int64_t>>>{
             {n.q_w, {h, h}}, {n.q_b, {h}}, {n.k_w, {h, h}}, {n.k_b, {h}}, {n.v_w, {h, h}}, {n.v_b, {h}},
             {n.o_w, {h, h}}, {n.o_b, {h}}, {n.ln1_w, {h}}, {n.ln1_b, {h}}, {n.fc1_w, {f, h}}, {n.fc1_b, {f}},
             {n.fc2_w, {h, f}}, {n.fc2_b, {h}}, {n.ln2_w, {h}}, {n.ln2_b, {h}}}) {
      out.push_back({L + name, shape});
    }
  }
  return out;
}

TextEncoder TextEncoder::from_source(const TextEncoderConfig& c, const TensorSource& src,
                                     const TextEncoderOptions& opts) {
  auto impl = std::make_unique<Impl>();
  impl->cfg = c;
  impl->enc = encoder::core_config(c, encoder::NormPlacement::post);
  impl->device = encoder::parse_device(opts.device);
  c10::InferenceMode guard;
  const int64_t h = c.hidden;
  impl->word = encoder::load_tensor(src, "embeddings.word_embeddings.weight", {c.vocab, h});
  impl->pos = encoder::load_tensor(src, "embeddings.position_embeddings.weight", {c.max_positions, h});
  impl->type = encoder::load_tensor(src, "embeddings.token_type_embeddings.weight", {c.type_vocab, h});
  impl->ln_w = encoder::load_tensor(src, "embeddings.LayerNorm.weight", {h});
  impl->ln_b = encoder::load_tensor(src, "embeddings.LayerNorm.bias", {h});
  for (int i = 0; i < c.layers; ++i) {
    impl->layers.push_back(
        encoder::load_layer(src, impl->enc, "encoder.layer." + std::to_string(i) + ".", kBertLayerNames));
  }
  if (!impl->device.is_cpu()) {
    for (at::Tensor* t : {&impl->word, &impl->pos, &impl->type, &impl->ln_w, &impl->ln_b}) *t = t->to(impl->device);
    encoder::to_device(impl->layers, impl->device);
  }
  return TextEncoder(std::move(impl));
}

TextEncoder TextEncoder::load(const std::string& path, const TextEncoderOptions& opts) {
  const stdfs::path p(path);
  std::error_code ec;
  if (!stdfs::exists(p, ec)) throw Error("text encoder weights not found at " + path, "pass a Hugging Face model directory");
  const stdfs::path dir = stdfs::is_directory(p, ec) ? p : p.parent_path();
  std::ifstream in(dir / "config.json");
  if (!in) throw Error("no config.json in " + dir.string(), "put the model's config.json next to its safetensors");
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(in);
  } catch (const std::exception& e) {
    throw Error("cannot parse " + (dir / "config.json").string() + ": " + e.what(), "use the model's original config.json");
  }
  const TextEncoderConfig cfg = text_encoder_config_from_json(j);
  const SafetensorsModel model = SafetensorsModel::open(path);
  std::string prefix;
  for (const char* pre : {"", "bert.", "roberta."}) {
    if (has_tensor(model, std::string(pre) + "embeddings.word_embeddings.weight")) {
      prefix = pre;
      break;
    }
  }
  return from_source(cfg, safetensors_source(model, prefix), opts);
}

TextEncoderOutput TextEncoder::forward(const std::vector<std::vector<int32_t>>& ids,
                                       const std::vector<std::vector<int32_t>>& token_types) const {
  const auto& c = impl_->cfg;
  TextEncoderOutput out;
  if (ids.empty()) return out;
  if (!token_types.empty() && token_types.size() != ids.size()) {
    throw Error("token_types: one sequence per input sequence expected", "pass no token types or one list per sequence");
  }
  size_t T = 0;
  for (const auto& s : ids) T = std::max(T, s.size());
  if (T == 0) throw Error("text encoder: empty token sequences", "include the special tokens (<s> ... </s>)");
  if (static_cast<int>(T) > max_tokens()) {
    throw Error("text encoder: " + std::to_string(T) + " tokens, more than the model's " + std::to_string(max_tokens()),
                "truncate the sequences");
  }
  const size_t B = ids.size();
  std::vector<int64_t> id(B * T, c.pad_id), posv(B * T, 0), typev(B * T, 0);
  out.mask.assign(B * T, 0);
  for (size_t b = 0; b < B; ++b) {
    for (size_t t = 0; t < ids[b].size(); ++t) {
      const int32_t x = ids[b][t];
      if (x < 0 || x >= c.vocab) {
        throw Error("token id " + std::to_string(x) + " out of the vocabulary (" + std::to_string(c.vocab) + ")",
                    "tokenize with the model's own vocabulary");
      }
      id[b * T + t] = x;
      out.mask[b * T + t] = 1;
      if (!token_types.empty() && t < token_types[b].size()) {
        if (c.roberta() && token_types[b][t] != 0) throw Error("RoBERTa has no token types", "pass no token types");
        if (token_types[b][t] < 0 || token_types[b][t] >= c.type_vocab) throw Error("token type id out of range");
        typev[b * T + t] = token_types[b][t];
      }
    }
    if (c.roberta()) {
      std::vector<int32_t> row(id.begin() + b * T, id.begin() + (b + 1) * T);
      const auto p = roberta_position_ids(row, c.pad_id);
      std::copy(p.begin(), p.end(), posv.begin() + b * T);
    } else {
      for (size_t t = 0; t < T; ++t) posv[b * T + t] = static_cast<int64_t>(t);
    }
  }
  c10::InferenceMode guard;
  const auto dev = impl_->device;
  const int64_t Bi = static_cast<int64_t>(B), Ti = static_cast<int64_t>(T);
  auto lt = [&](std::vector<int64_t>& v) { return at::from_blob(v.data(), {Bi, Ti}, at::kLong).to(dev); };
  std::vector<uint8_t> maskv = out.mask;
  const at::Tensor keep = at::from_blob(maskv.data(), {Bi, Ti}, at::kByte).to(dev).to(at::kBool);
  at::Tensor x = at::embedding(impl_->word, lt(id)) + at::embedding(impl_->pos, lt(posv)) +
                 at::embedding(impl_->type, lt(typev));
  x = encoder::layer_norm(x, impl_->ln_w, impl_->ln_b, c.eps);
  x = encoder::forward(impl_->enc, impl_->layers, x, keep).to(at::kCPU).contiguous();
  out.batch = B;
  out.tokens = T;
  out.hidden = static_cast<size_t>(c.hidden);
  out.states.assign(x.data_ptr<float>(), x.data_ptr<float>() + x.numel());
  return out;
}

std::vector<std::vector<float>> TextEncoder::pool(const TextEncoderOutput& o, Pooling pooling) {
  std::vector<std::vector<float>> res(o.batch, std::vector<float>(o.hidden, 0.0f));
  for (size_t b = 0; b < o.batch; ++b) {
    if (pooling == Pooling::cls) {
      std::copy(o.at(b, 0), o.at(b, 0) + o.hidden, res[b].begin());
      continue;
    }
    std::vector<double> acc(o.hidden, 0.0);
    size_t n = 0;
    for (size_t t = 0; t < o.tokens; ++t) {
      if (pooling == Pooling::masked_mean && !o.mask[b * o.tokens + t]) continue;
      ++n;
      const float* s = o.at(b, t);
      for (size_t k = 0; k < o.hidden; ++k) acc[k] += s[k];
    }
    for (size_t k = 0; k < o.hidden; ++k) res[b][k] = static_cast<float>(n ? acc[k] / n : 0.0);
  }
  return res;
}

}  // namespace mtk::encoders
