#pragma once
// The CLIP vision tower (ViT, e.g. openai/clip-vit-large-patch14) as an image encoder for frame
// similarity: Hugging Face safetensors weights, CLIP preprocessing, batched encoding to
// L2-normalised embeddings. libtorch stays inside src/llm/clip.cpp.
//
// Model (transformers' CLIPVisionModelWithProjection): a patch convolution (no bias) over the
// image, a class token in front, learned position embeddings, `pre_layrnorm`, N pre-LN encoder
// layers with quick-GELU (encoder.hpp), `post_layernorm` on the class token, then
// `visual_projection` (no bias) to projection_dim (768 for ViT-L/14).
//
// Tensor names (the same in a full CLIPModel checkpoint, whose text_model.* tensors are ignored,
// and in a CLIPVisionModelWithProjection one):
//   vision_model.embeddings.{class_embedding, patch_embedding.weight, position_embedding.weight}
//   vision_model.pre_layrnorm.{weight,bias}   vision_model.post_layernorm.{weight,bias}
//   vision_model.encoder.layers.N.self_attn.{q,k,v,out}_proj.{weight,bias}
//   vision_model.encoder.layers.N.{layer_norm1,layer_norm2}.{weight,bias}
//   vision_model.encoder.layers.N.mlp.{fc1,fc2}.{weight,bias}
//   visual_projection.weight
// Checkpoints saved without the "vision_model." prefix are accepted too.
//
// Preprocessing (CLIPImageProcessor with PIL, as the paper's transformers used): RGB; resize so the
// shortest side is image_size with PIL's bicubic filter (output long side int(size * long / short));
// centre crop image_size x image_size (offsets (W - size) / 2, (H - size) / 2 rounded down); x / 255;
// (x - mean) / std per channel with the OpenAI CLIP mean and std. The resize reimplements PIL's
// 8-bit fixed-point separable convolution (horizontal pass first, rounding to 8 bits in between),
// so it matches Pillow 11 bit for bit on the test frames (tests/llm/test_clip.cpp measures it).
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "mtk/encoders/encoder_source.hpp"
#include "mtk/video/image.hpp"
#include "mtk/video/preprocess.hpp"

namespace mtk::encoders {

struct ClipVisionConfig {  // transformers' CLIPVisionConfig defaults
  int hidden = 768, intermediate = 3072, heads = 12, layers = 12;
  int image_size = 224, patch_size = 32, projection_dim = 512, channels = 3;
  double eps = 1e-5;
  std::string act = "quick_gelu";

  int grid() const { return image_size / patch_size; }
  int tokens() const { return grid() * grid() + 1; }
};

// From a config.json: a CLIPModel's (its "vision_config", with the top-level "projection_dim") or a
// vision-only one (CLIPVisionModel[WithProjection], model_type "clip_vision_model"). Missing keys
// take transformers' defaults. Throws mtk::Error for inconsistent sizes.
ClipVisionConfig clip_vision_config_from_json(const nlohmann::json& config);

struct ClipOptions {
  std::string device = "cpu";  // "cpu", "cuda", "cuda:N"
  int batch = 8;               // frames per forward pass
};

class ClipVisionEncoder {
 public:
  // `path`: a Hugging Face model directory (config.json + model.safetensors or shards), or a
  // .safetensors file with config.json beside it. Throws mtk::Error naming the file and the fix.
  static ClipVisionEncoder load(const std::string& path, const ClipOptions& opts = {});
  // From any weight source under the names above (with the "vision_model." prefix).
  static ClipVisionEncoder from_source(const ClipVisionConfig& cfg, const TensorSource& src,
                                       const ClipOptions& opts = {});
  // Every tensor from_source reads, with its shape, in reading order.
  static std::vector<std::pair<std::string, std::vector<int64_t>>> tensor_shapes(const ClipVisionConfig& cfg);

  ClipVisionEncoder(ClipVisionEncoder&&) noexcept;
  ClipVisionEncoder& operator=(ClipVisionEncoder&&) noexcept;
  ~ClipVisionEncoder();

  const ClipVisionConfig& config() const;
  int dim() const { return config().projection_dim; }

  // Frames (RGB or gray, any size) to L2-normalised embeddings, `batch` frames per pass (0: the
  // options' batch). Preprocessing runs on the CPU, in parallel over frames.
  std::vector<std::vector<float>> encode_images(const std::vector<video::Image>& frames, int batch = 0) const;
  // Already preprocessed pixels: n images of 3 x image_size x image_size floats, back to back.
  std::vector<std::vector<float>> encode_pixels(const std::vector<float>& pixels, size_t n, int batch = 0) const;

 private:
  struct Impl;
  explicit ClipVisionEncoder(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace mtk::encoders
