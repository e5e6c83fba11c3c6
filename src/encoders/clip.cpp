// The CLIP vision tower (clip.hpp) on the shared encoder core (encoder.hpp).
#include "mtk/encoders/clip.hpp"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <c10/core/InferenceMode.h>

#include <filesystem>
#include <fstream>

#include "mtk/core/error.hpp"
#include "mtk/encoders/encoder.hpp"
#include "mtk/llm/safetensors.hpp"

namespace mtk::encoders {

using llm::SafeTensorInfo;
using llm::safetensor_to_f32;

namespace stdfs = std::filesystem;

ClipVisionConfig clip_vision_config_from_json(const nlohmann::json& j) {
  if (!j.is_object()) throw Error("CLIP config.json is not a JSON object", "use the config.json of a CLIP model");
  const bool full = j.contains("vision_config");
  const nlohmann::json& v = full ? j.at("vision_config") : j;
  if (!v.is_object()) throw Error("CLIP config.json: vision_config is not an object", "use the config.json of a CLIP model");
  ClipVisionConfig c;
  auto get = [&](const nlohmann::json& o, const char* key, auto& dst) {
    if (!o.contains(key) || o.at(key).is_null()) return;
    try {
      dst = o.at(key).get<std::decay_t<decltype(dst)>>();
    } catch (const std::exception&) {
      throw Error(std::string("CLIP config.json: \"") + key + "\" has the wrong type", "use the config.json of a CLIP model");
    }
  };
  get(v, "hidden_size", c.hidden);
  get(v, "intermediate_size", c.intermediate);
  get(v, "num_attention_heads", c.heads);
  get(v, "num_hidden_layers", c.layers);
  get(v, "image_size", c.image_size);
  get(v, "patch_size", c.patch_size);
  get(v, "num_channels", c.channels);
  get(v, "layer_norm_eps", c.eps);
  get(v, "hidden_act", c.act);
  get(v, "projection_dim", c.projection_dim);
  if (full) get(j, "projection_dim", c.projection_dim);  // CLIPModel projects with its top-level value
  encoder::parse_activation(c.act);
  if (c.hidden <= 0 || c.heads <= 0 || c.hidden % c.heads || c.layers <= 0 || c.intermediate <= 0 ||
      c.patch_size <= 0 || c.image_size < c.patch_size || c.image_size % c.patch_size || c.projection_dim <= 0 ||
      c.channels != 3) {
    throw Error("CLIP config.json has inconsistent sizes (hidden_size " + std::to_string(c.hidden) + ", heads " +
                    std::to_string(c.heads) + ", image_size " + std::to_string(c.image_size) + ", patch_size " +
                    std::to_string(c.patch_size) + ")",
                "use the config.json that came with the weights");
  }
  return c;
}

struct ClipVisionEncoder::Impl {
  ClipVisionConfig cfg;
  encoder::Config enc;
  at::Device device{at::kCPU};
  int batch = 8;
  at::Tensor class_emb, patch_w, pos_emb, pre_w, pre_b, post_w, post_b, proj_w;
  std::vector<encoder::Layer> layers;

  // pixels [B, 3, S, S] (on device) -> normalised embeddings [B, P] on the CPU
  at::Tensor forward(const at::Tensor& pixels) const {
    c10::InferenceMode guard;
    const int64_t B = pixels.size(0);
    at::Tensor x = at::conv2d(pixels, patch_w, {}, {cfg.patch_size, cfg.patch_size});  // [B, H, g, g]
    x = x.flatten(2).transpose(1, 2);                                                  // [B, g*g, H]
    x = at::cat({class_emb.view({1, 1, -1}).expand({B, 1, cfg.hidden}), x}, 1) + pos_emb.unsqueeze(0);
    x = encoder::layer_norm(x, pre_w, pre_b, cfg.eps);
    x = encoder::forward(enc, layers, x);
    const at::Tensor pooled = encoder::layer_norm(x.select(1, 0), post_w, post_b, cfg.eps);
    at::Tensor e = at::linear(pooled, proj_w);
    e = e / e.norm(2, -1, true);
    return e.to(at::kCPU).contiguous();
  }
};

ClipVisionEncoder::ClipVisionEncoder(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ClipVisionEncoder::ClipVisionEncoder(ClipVisionEncoder&&) noexcept = default;
ClipVisionEncoder& ClipVisionEncoder::operator=(ClipVisionEncoder&&) noexcept = default;
ClipVisionEncoder::~ClipVisionEncoder() = default;

const ClipVisionConfig& ClipVisionEncoder::config() const { return impl_->cfg; }

namespace {

const encoder::LayerNames kClipLayerNames{
    "self_attn.q_proj.weight", "self_attn.q_proj.bias", "self_attn.k_proj.weight", "self_attn.k_proj.bias",
    "self_attn.v_proj.weight", "self_attn.v_proj.bias", "self_attn.out_proj.weight", "self_attn.out_proj.bias",
    "layer_norm1.weight",      "layer_norm1.bias",      "layer_norm2.weight",      "layer_norm2.bias",
    "mlp.fc1.weight",          "mlp.fc1.bias",          "mlp.fc2.weight",          "mlp.fc2.bias"};

}  // namespace

std::vector<std::pair<std::string, std::vector<int64_t>>> ClipVisionEncoder::tensor_shapes(const ClipVisionConfig& c) {
  const int64_t h = c.hidden, f = c.intermediate, p = c.patch_size;
  const std::string v = "vision_model.";
  std::vector<std::pair<std::string, std::vector<int64_t>>> out = {
      {v + "embeddings.class_embedding", {h}},
      {v + "embeddings.patch_embedding.weight", {h, c.channels, p, p}},
      {v + "embeddings.position_embedding.weight", {c.tokens(), h}},
      {v + "pre_layrnorm.weight", {h}},
      {v + "pre_layrnorm.bias", {h}},
  };
  const auto& n = kClipLayerNames;
  for (int i = 0; i < c.layers; ++i) {
    const std::string L = v + "encoder.layers." + std::to_string(i) + ".";
    for (const auto& [name, shape] : std::vector<std::pair<std::string, std::vector<int64_t>>>{
             {n.q_w, {h, h}}, {n.q_b, {h}}, {n.k_w, {h, h}}, {n.k_b, {h}}, {n.v_w, {h, h}}, {n.v_b, {h}},
             {n.o_w, {h, h}}, {n.o_b, {h}}, {n.ln1_w, {h}}, {n.ln1_b, {h}}, {n.ln2_w, {h}}, {n.ln2_b, {h}},
             {n.fc1_w, {f, h}}, {n.fc1_b, {f}}, {n.fc2_w, {h, f}}, {n.fc2_b, {h}}}) {
      out.push_back({L + name, shape});
    }
  }
  out.push_back({v + "post_layernorm.weight", {h}});
  out.push_back({v + "post_layernorm.bias", {h}});
  out.push_back({"visual_projection.weight", {c.projection_dim, h}});
  return out;
}

ClipVisionEncoder ClipVisionEncoder::from_source(const ClipVisionConfig& c, const TensorSource& src,
                                                 const ClipOptions& opts) {
  auto impl = std::make_unique<Impl>();
  impl->cfg = c;
  impl->enc = encoder::core_config(c, encoder::NormPlacement::pre);
  impl->batch = std::max(1, opts.batch);
  impl->device = encoder::parse_device(opts.device);
  const int64_t h = c.hidden, p = c.patch_size;
  const std::string v = "vision_model.";
  c10::InferenceMode guard;
  impl->class_emb = encoder::load_tensor(src, v + "embeddings.class_embedding", {h});
  impl->patch_w = encoder::load_tensor(src, v + "embeddings.patch_embedding.weight", {h, c.channels, p, p});
  impl->pos_emb = encoder::load_tensor(src, v + "embeddings.position_embedding.weight", {c.tokens(), h});
  impl->pre_w = encoder::load_tensor(src, v + "pre_layrnorm.weight", {h});
  impl->pre_b = encoder::load_tensor(src, v + "pre_layrnorm.bias", {h});
  for (int i = 0; i < c.layers; ++i) {
    impl->layers.push_back(
        encoder::load_layer(src, impl->enc, v + "encoder.layers." + std::to_string(i) + ".", kClipLayerNames));
  }
  impl->post_w = encoder::load_tensor(src, v + "post_layernorm.weight", {h});
  impl->post_b = encoder::load_tensor(src, v + "post_layernorm.bias", {h});
  impl->proj_w = encoder::load_tensor(src, "visual_projection.weight", {c.projection_dim, h});
  if (!impl->device.is_cpu()) {
    for (at::Tensor* t : {&impl->class_emb, &impl->patch_w, &impl->pos_emb, &impl->pre_w, &impl->pre_b,
                          &impl->post_w, &impl->post_b, &impl->proj_w}) {
      *t = t->to(impl->device);
    }
    encoder::to_device(impl->layers, impl->device);
  }
  return ClipVisionEncoder(std::move(impl));
}

ClipVisionEncoder ClipVisionEncoder::load(const std::string& path, const ClipOptions& opts) {
  const stdfs::path p(path);
  std::error_code ec;
  if (!stdfs::exists(p, ec)) {
    throw Error("CLIP weights not found at " + path,
                "run scripts/fetch_models.sh clip, or pass the directory of openai/clip-vit-large-patch14");
  }
  const stdfs::path dir = stdfs::is_directory(p, ec) ? p : p.parent_path();
  const stdfs::path cfg_path = dir / "config.json";
  std::ifstream in(cfg_path);
  if (!in) {
    throw Error("no config.json in " + dir.string(),
                "put the model's config.json next to its safetensors (scripts/fetch_models.sh clip fetches both)");
  }
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(in);
  } catch (const std::exception& e) {
    throw Error("cannot parse " + cfg_path.string() + ": " + e.what(), "use the model's original config.json");
  }
  const ClipVisionConfig cfg = clip_vision_config_from_json(j);
  const SafetensorsModel model = SafetensorsModel::open(path);
  // Vision-only checkpoints saved from CLIPVisionTransformer directly lack the prefix.
  const bool prefixed = has_tensor(model, "vision_model.embeddings.class_embedding");
  const TensorSource base = safetensors_source(model);
  const TensorSource src = prefixed ? base : TensorSource([&](const std::string& name, const std::vector<int64_t>& s, float* d) {
    const std::string kPrefix = "vision_model.";
    base(name.rfind(kPrefix, 0) == 0 ? name.substr(kPrefix.size()) : name, s, d);
  });
  return from_source(cfg, src, opts);
}

std::vector<std::vector<float>> ClipVisionEncoder::encode_pixels(const std::vector<float>& pixels, size_t n,
                                                                 int batch) const {
  const int64_t S = impl_->cfg.image_size;
  const size_t per = static_cast<size_t>(3 * S * S);
  if (pixels.size() != n * per) {
    throw Error("encode_pixels: " + std::to_string(pixels.size()) + " floats for " + std::to_string(n) +
                    " images of 3x" + std::to_string(S) + "x" + std::to_string(S),
                "pass preprocessed images (clip_preprocess)");
  }
  const size_t B = static_cast<size_t>(batch > 0 ? batch : impl_->batch);
  std::vector<std::vector<float>> out;
  out.reserve(n);
  for (size_t i = 0; i < n; i += B) {
    const int64_t b = static_cast<int64_t>(std::min(B, n - i));
    at::Tensor x = at::from_blob(const_cast<float*>(pixels.data() + i * per), {b, 3, S, S}, at::kFloat);
    if (!impl_->device.is_cpu()) x = x.to(impl_->device);
    const at::Tensor e = impl_->forward(x);
    const float* d = e.data_ptr<float>();
    for (int64_t r = 0; r < b; ++r) out.emplace_back(d + r * e.size(1), d + (r + 1) * e.size(1));
  }
  return out;
}

std::vector<std::vector<float>> ClipVisionEncoder::encode_images(const std::vector<video::Image>& frames,
                                                                 int batch) const {
  const int S = impl_->cfg.image_size;
  const size_t per = static_cast<size_t>(3) * S * S;
  const size_t B = static_cast<size_t>(batch > 0 ? batch : impl_->batch);
  std::vector<std::vector<float>> out;
  out.reserve(frames.size());
  std::vector<float> pixels;
  for (size_t i = 0; i < frames.size(); i += B) {
    const size_t b = std::min(B, frames.size() - i);
    pixels.assign(b * per, 0.0f);
    at::parallel_for(0, static_cast<int64_t>(b), 1, [&](int64_t f0, int64_t f1) {
      for (int64_t f = f0; f < f1; ++f) {
        video::clip_normalize(video::clip_resize_crop(frames[i + f], S), pixels.data() + f * per);
      }
    });
    for (auto& e : encode_pixels(pixels, b, static_cast<int>(b))) out.push_back(std::move(e));
  }
  return out;
}

}  // namespace mtk::encoders
