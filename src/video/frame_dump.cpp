#include "mtk/video/frame_dump.hpp"

#include <cstring>
#include <string>

#include "mtk/core/error.hpp"
#include "mtk/core/fs.hpp"

namespace mtk::video {

namespace {

constexpr char kMagic[8] = {'M', 'T', 'K', 'F', 'R', 'M', '0', '1'};

void put_u32(std::string& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

uint32_t get_u32(const std::string& in, size_t& pos, const std::filesystem::path& path) {
  if (pos + 4 > in.size()) throw Error("frame dump " + path.string() + " is truncated");
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v |= static_cast<uint32_t>(static_cast<unsigned char>(in[pos + i])) << (8 * i);
  pos += 4;
  return v;
}

}  // namespace

void write_frame_dump(const std::filesystem::path& path, const std::vector<Image>& frames) {
  std::string out(kMagic, sizeof(kMagic));
  put_u32(out, static_cast<uint32_t>(frames.size()));
  for (const Image& im : frames) {
    const size_t bytes = static_cast<size_t>(im.width) * im.height * im.channels;
    if (im.pixels.size() != bytes) throw Error("frame dump: image buffer does not match its size");
    put_u32(out, static_cast<uint32_t>(im.width));
    put_u32(out, static_cast<uint32_t>(im.height));
    put_u32(out, static_cast<uint32_t>(im.channels));
    out.append(reinterpret_cast<const char*>(im.pixels.data()), bytes);
  }
  fs::atomic_write(path, out);
}

std::vector<Image> read_frame_dump(const std::filesystem::path& path) {
  const std::string in = fs::read_file(path);
  if (in.size() < sizeof(kMagic) || std::memcmp(in.data(), kMagic, sizeof(kMagic)) != 0)
    throw Error(path.string() + " is not a frame dump (bad magic)");
  size_t pos = sizeof(kMagic);
  const uint32_t n = get_u32(in, pos, path);
  std::vector<Image> frames;
  frames.reserve(n);
  for (uint32_t k = 0; k < n; ++k) {
    Image im;
    im.width = static_cast<int>(get_u32(in, pos, path));
    im.height = static_cast<int>(get_u32(in, pos, path));
    im.channels = static_cast<int>(get_u32(in, pos, path));
    const size_t bytes = static_cast<size_t>(im.width) * im.height * im.channels;
    if (pos + bytes > in.size()) throw Error("frame dump " + path.string() + " is truncated");
    im.pixels.assign(reinterpret_cast<const uint8_t*>(in.data()) + pos,
                     reinterpret_cast<const uint8_t*>(in.data()) + pos + bytes);
    pos += bytes;
    frames.push_back(std::move(im));
  }
  return frames;
}

}  // namespace mtk::video
