#pragma once
// Raw frame dumps, to hand decoded frames to other tools (the Python parity peers) bit for bit.
//
// Format (little-endian): 8-byte magic "MTKFRM01", uint32 frame count, then per frame uint32 width,
// uint32 height, uint32 channels followed by width*height*channels bytes, rows top to bottom,
// tightly packed (channels interleaved: gray = 1, RGB = 3). tests/python/ssim_reference.py reads it.
#include <filesystem>
#include <vector>

#include "mtk/video/image.hpp"

namespace mtk::video {

void write_frame_dump(const std::filesystem::path& path, const std::vector<Image>& frames);
std::vector<Image> read_frame_dump(const std::filesystem::path& path);  // throws mtk::Error

}  // namespace mtk::video
