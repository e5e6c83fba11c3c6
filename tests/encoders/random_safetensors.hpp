#pragma once
// Writes an F32 safetensors file of deterministic random weights (encoders::random_weight, the fixture
// PRNG) with our own minimal writer: u64 header length, header JSON padded to 8 bytes, data.
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "mtk/encoders/encoder_source.hpp"

namespace mtk::test {

inline void write_random_safetensors(const std::filesystem::path& path,
                                     const std::vector<std::pair<std::string, std::vector<int64_t>>>& shapes,
                                     uint64_t seed) {
  nlohmann::json h = nlohmann::json::object();
  std::string data;
  for (const auto& [name, shape] : shapes) {
    int64_t n = 1;
    for (auto d : shape) n *= d;
    std::vector<float> v(static_cast<size_t>(n));
    mtk::encoders::random_weight(name, shape, seed, v.data());
    h[name] = {{"dtype", "F32"}, {"shape", shape}, {"data_offsets", {data.size(), data.size() + v.size() * 4}}};
    data.append(reinterpret_cast<const char*>(v.data()), v.size() * 4);
  }
  std::string hs = h.dump();
  while (hs.size() % 8) hs += ' ';
  std::ofstream out(path, std::ios::binary);
  const uint64_t len = hs.size();
  out.write(reinterpret_cast<const char*>(&len), 8);
  out << hs << data;
}

}  // namespace mtk::test
