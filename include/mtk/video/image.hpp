#pragma once
// A decoded frame: 8-bit, row-major, tightly packed (stride = width * channels).
#include <cstdint>
#include <vector>

namespace mtk::video {

struct Image {
  int width = 0;
  int height = 0;
  int channels = 0;  // 1 = grayscale, 3 = RGB
  std::vector<uint8_t> pixels;

  bool empty() const { return width == 0 || height == 0; }
  const uint8_t* row(int y) const { return pixels.data() + static_cast<size_t>(y) * width * channels; }
};

}  // namespace mtk::video
