#include "mtk/render/cache.hpp"

#include <unistd.h>

#include <nlohmann/json.hpp>

#include "mtk/core/error.hpp"
#include "mtk/core/fs.hpp"
#include "mtk/core/hash.hpp"

namespace mtk::render {

namespace stdfs = std::filesystem;

namespace {

constexpr const char* kResultFile = "result.json";

void move_file(const stdfs::path& from, const stdfs::path& to) {
  std::error_code ec;
  stdfs::rename(from, to, ec);
  if (ec) {  // another file system
    stdfs::copy_file(from, to, stdfs::copy_options::overwrite_existing);
    stdfs::remove(from, ec);
  }
  if (::geteuid() == 0) {
    int rc = ::chown(to.c_str(), 0, 0);
    (void)rc;
  }
  stdfs::permissions(to, stdfs::perms::owner_read | stdfs::perms::owner_write | stdfs::perms::group_read |
                             stdfs::perms::others_read);
}

bool valid_key(const std::string& key) {
  if (key.size() != 64) return false;
  for (char c : key)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

}  // namespace

RenderCache::RenderCache(stdfs::path dir) : dir_(dir.empty() ? fs::cache_root() / "render" : std::move(dir)) {}

std::string RenderCache::key(const std::string& code, const std::string& scene, const std::string& environment,
                             const std::string& quality, int format_version) {
  Sha256 h;
  h.field("mtk-render-cache").field(code).field(scene).field(environment).field(quality);
  h.field(std::to_string(format_version));
  return h.hex();
}

bool RenderCache::cacheable(const RenderResult& r) { return r.success || is_deterministic(r.failure); }

stdfs::path RenderCache::entry_dir(const std::string& key) const {
  if (!valid_key(key)) throw Error("invalid render cache key '" + key + "'", "keys are 64 lowercase hex digits");
  return dir_ / key.substr(0, 2) / key;
}

std::optional<RenderResult> RenderCache::get(const std::string& key) const {
  const stdfs::path entry = entry_dir(key);
  std::error_code ec;
  if (!stdfs::exists(entry / kResultFile, ec)) return std::nullopt;
  try {
    RenderResult r = nlohmann::json::parse(fs::read_file(entry / kResultFile)).get<RenderResult>();
    if (!r.output.empty()) {
      r.output = entry / r.output.filename();
      if (!stdfs::is_regular_file(r.output, ec)) return std::nullopt;
    }
    r.cached = true;
    return r;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

RenderResult RenderCache::put(const std::string& key, const RenderResult& r) {
  if (!cacheable(r)) return r;
  const stdfs::path entry = entry_dir(key);
  auto adopt = [&]() -> std::optional<RenderResult> {
    auto won = get(key);
    if (!won) return std::nullopt;
    won->cached = false;
    won->id = r.id;
    return won;
  };
  if (auto won = adopt()) return *won;

  stdfs::create_directories(entry.parent_path());
  const stdfs::path tmp = fs::make_temp_dir(entry.parent_path(), ".tmp-" + key.substr(0, 8) + "-");
  std::error_code ec;
  try {
    RenderResult stored = r;
    stored.cached = false;
    if (!r.output.empty()) {
      stdfs::path name = std::string("out") + r.output.extension().string();
      move_file(r.output, tmp / name);
      stored.output = name;
    }
    fs::atomic_write(tmp / kResultFile, nlohmann::json(stored).dump(1));
    stdfs::permissions(tmp, stdfs::perms::owner_all | stdfs::perms::group_read | stdfs::perms::group_exec |
                                stdfs::perms::others_read | stdfs::perms::others_exec);
    stdfs::rename(tmp, entry, ec);
    if (ec) {  // another writer won the race (or a stale unreadable entry is in the way)
      stdfs::remove_all(tmp, ec);
      if (auto won = adopt()) return *won;
      throw Error("cannot store render cache entry " + entry.string(), "check permissions, or clear the render cache");
    }
    stored.output = stored.output.empty() ? stdfs::path() : entry / stored.output;
    return stored;
  } catch (...) {
    stdfs::remove_all(tmp, ec);
    throw;
  }
}

RenderCache::Stats RenderCache::stats() const {
  Stats s;
  std::error_code ec;
  if (!stdfs::is_directory(dir_, ec)) return s;
  for (const auto& shard : stdfs::directory_iterator(dir_, ec)) {
    if (!shard.is_directory(ec)) continue;
    for (const auto& e : stdfs::directory_iterator(shard.path(), ec)) {
      if (e.path().filename().string().rfind(".", 0) == 0 || !e.is_directory(ec)) continue;
      ++s.entries;
      for (const auto& f : stdfs::directory_iterator(e.path(), ec))
        if (f.is_regular_file(ec)) s.bytes += f.file_size(ec);
      try {
        auto j = nlohmann::json::parse(fs::read_file(e.path() / kResultFile));
        (j.value("success", false) ? s.successes : s.failures)++;
      } catch (const std::exception&) {
      }
    }
  }
  return s;
}

void RenderCache::clear() {
  std::error_code ec;
  if (!stdfs::is_directory(dir_, ec)) return;
  for (const auto& e : stdfs::directory_iterator(dir_, ec)) stdfs::remove_all(e.path(), ec);
}

}  // namespace mtk::render
