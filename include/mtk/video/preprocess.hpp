#pragma once
// Image preprocessing for vision encoders: Pillow's bicubic resize (8-bit, its fixed-point
// resampling), the CLIP centre crop and normalisation (transformers' CLIPImageProcessor on a
// frame). No libtorch. Implemented in src/video/preprocess.cpp.
#include <vector>

#include "mtk/video/image.hpp"

namespace mtk::video {

// OpenAI CLIP normalisation.
inline constexpr float kClipMean[3] = {0.48145466f, 0.4578275f, 0.40821073f};
inline constexpr float kClipStd[3] = {0.26862954f, 0.26130258f, 0.27577711f};

// PIL-style bicubic resize (Image.resize(..., BICUBIC)) of an 8-bit image (1 or 3 channels) to
// width x height.
video::Image pil_bicubic_resize(const video::Image& img, int width, int height);
// Shortest side to `size` (PIL bicubic), then the centre size x size crop; gray input becomes RGB.
video::Image clip_resize_crop(const video::Image& img, int size = 224);
// A size x size RGB crop to normalised float32 CHW (3 * size * size values) at dst.
void clip_normalize(const video::Image& crop, float* dst);
// clip_resize_crop + clip_normalize.
std::vector<float> clip_preprocess(const video::Image& img, int size = 224);

}  // namespace mtk::video
