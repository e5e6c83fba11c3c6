#pragma once
// Video and still-image decoding with FFmpeg's libav* (stills: PNG/JPEG through OpenCV's imgcodecs).
// Frame sampling is the paper's: keep every int(fps / target_fps)-th decoded frame (at least every
// frame), counting from frame 0. A still image is a one-frame video.
#include <filesystem>
#include <string>
#include <vector>

#include "mtk/video/image.hpp"

namespace mtk::video {

struct SampleOptions {
  double target_fps = 5.0;  // the paper samples at 5 fps
  bool gray = true;         // grayscale frames (for SSIM), converted as OpenCV's BGR2GRAY does
  bool rgb = false;         // RGB frames (for CLIP)
  unsigned decode_threads = 0;  // libavcodec decoder threads (0 = libav picks; output is identical)
};

struct Frames {
  std::vector<Image> gray;   // filled when SampleOptions::gray
  std::vector<Image> rgb;    // filled when SampleOptions::rgb
  std::vector<int64_t> indices;  // decoded-frame index of each sampled frame
  double fps = 0.0;          // stream frame rate (0 for a still)
  int64_t decoded = 0;       // frames decoded in total
  int step = 1;              // the sampling interval used
  bool still = false;        // the input was a single image
  size_t size() const { return indices.size(); }
};

struct VideoInfo {
  int width = 0, height = 0;
  double fps = 0.0;
  double duration_s = 0.0;
  std::string codec;
  bool still = false;
};

// Pixels match OpenCV's FFmpeg backend (cv2.VideoCapture + cvtColor), which the paper's code uses:
// YUV -> BGR24 by libswscale (SWS_BICUBIC, over the coded size), then BGR2GRAY / BGR2RGB.
// A truncated file yields the frames that could be decoded (a warning is logged) or, when nothing
// is decodable (e.g. the mp4 index is missing), an error.
// Throws mtk::Error with a clear message for a missing, corrupt, truncated or unsupported file.
Frames load_frames(const std::filesystem::path& path, const SampleOptions& opts = {});
VideoInfo probe(const std::filesystem::path& path);

}  // namespace mtk::video
