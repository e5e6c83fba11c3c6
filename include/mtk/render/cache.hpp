#pragma once
// Content-addressed render cache: <dir>/<2 hex>/<key>/{result.json, out.mp4|out.png}.
// Entries are built in a temporary directory and renamed into place, so concurrent writers are
// safe: the first rename wins and the others adopt the winner's entry. Holds successes and
// deterministic failures only (never timeout, memory, killed or sandbox).
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

#include "mtk/render/result.hpp"

namespace mtk::render {

class RenderCache {
 public:
  explicit RenderCache(std::filesystem::path dir = {});  // empty: fs::cache_root()/render

  static std::string key(const std::string& code, const std::string& scene, const std::string& environment,
                         const std::string& quality, int format_version);
  static bool cacheable(const RenderResult& r);

  // The stored result with `output` pointing into the entry and `cached` set; nullopt on a miss
  // or an unreadable entry.
  std::optional<RenderResult> get(const std::string& key) const;
  // Stores `r`, moving its output file (rename, or copy when across file systems) into the entry.
  // Returns the stored result (another writer's when it won the race) with `output` inside the
  // entry. A result that is not cacheable is returned unchanged.
  RenderResult put(const std::string& key, const RenderResult& r);

  struct Stats {
    uint64_t entries = 0, bytes = 0, successes = 0, failures = 0;
  };
  Stats stats() const;
  void clear();
  const std::filesystem::path& dir() const { return dir_; }
  std::filesystem::path entry_dir(const std::string& key) const;

 private:
  std::filesystem::path dir_;
};

}  // namespace mtk::render
