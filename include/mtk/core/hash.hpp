#pragma once
// SHA-256 (OpenSSL), for content-addressed caches and model-file checks.
#include <string>
#include <string_view>

namespace mtk {

class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  // Adds a length-prefixed field, so ("ab","c") and ("a","bc") hash differently.
  Sha256& field(std::string_view s);
  Sha256& update(std::string_view s);
  std::string hex();  // finishes the digest

 private:
  void* ctx_;
};

std::string sha256_hex(std::string_view data);
std::string sha256_file_hex(const std::string& path);

}  // namespace mtk
