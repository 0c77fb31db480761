// The tuning cache file, see wsi/model/tuning_cache.hpp. Layout:
// {"format": "wsi-mpi tuning cache", "version": 1, "entries": [{"key": {...}, "config": {...}}]}
#include "wsi/model/tuning_cache.hpp"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <tuple>
#include <vector>

#include <spdlog/spdlog.h>

#include "util/exclusive_file.hpp"
#include "util/json.hpp"

namespace wsi {
namespace {

constexpr const char* kFormat = "wsi-mpi tuning cache";
constexpr int kVersion = 1;
constexpr size_t kMaxFileBytes = size_t{1} << 20;  // 64 entries are about 60 KB

Json key_json(const TuningKey& k) {
  return {{"cpu_model", k.cpu_model}, {"cpu_flags", k.cpu_flags},       {"device", k.device},
          {"threads", k.threads},     {"libtorch", k.libtorch},         {"model_sha256", k.model_sha256},
          {"input_width", k.input_width}, {"input_height", k.input_height}, {"asked", k.asked}};
}

// The entries of a cache file; throws std::invalid_argument for anything but a well-formed one.
std::vector<Json> read_entries(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return {};
  const auto bytes = std::filesystem::file_size(path, ec);
  if (ec || bytes > kMaxFileBytes)
    throw std::invalid_argument(path + ": " + (ec ? ec.message() : std::to_string(bytes) + " bytes, more than expected"));
  const Json root = parse_json_file(path);
  if (!root.is_object() || root.value("format", "") != kFormat || root.value("version", 0) != kVersion ||
      !root.contains("entries") || !root["entries"].is_array())
    throw std::invalid_argument(path + ": not a version " + std::to_string(kVersion) + " " + kFormat);
  std::vector<Json> entries;
  for (const Json& e : root["entries"]) {
    if (!e.is_object() || !e.contains("key") || !e.contains("config") || !e["config"].is_object())
      throw std::invalid_argument(path + ": an entry without key and config");
    entries.push_back(e);
  }
  return entries;
}

}  // namespace

bool TuningKey::operator==(const TuningKey& o) const {
  return std::tie(cpu_model, cpu_flags, device, threads, libtorch, model_sha256, input_width, input_height, asked) ==
         std::tie(o.cpu_model, o.cpu_flags, o.device, o.threads, o.libtorch, o.model_sha256, o.input_width,
                  o.input_height, o.asked);
}

std::string default_tuning_cache_path() {
  namespace fs = std::filesystem;
  if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg && *xdg && fs::path(xdg).is_absolute())
    return (fs::path(xdg) / "wsi-mpi" / "tuning.json").string();
  if (const char* home = std::getenv("HOME"); home && *home) return (fs::path(home) / ".cache" / "wsi-mpi" / "tuning.json").string();
  return "";
}

std::optional<NumericConfig> find_tuned(const std::string& path, const TuningKey& key) {
  try {
    const Json wanted = key_json(key);
    for (const Json& entry : read_entries(path)) {
      if (entry["key"] != wanted) continue;
      NumericConfig config = parse_numeric_config(json_text(entry["config"]), path + ": an entry's config");
      config.decided_by = "tuning cache";
      return config;
    }
  } catch (const std::exception& e) {
    spdlog::warn("tuning cache {} ignored: {}", path, e.what());
  }
  return std::nullopt;
}

void store_tuned(const std::string& path, const TuningKey& key, const NumericConfig& config) {
  try {
    std::vector<Json> entries;
    try {
      entries = read_entries(path);
    } catch (const std::exception& e) {
      spdlog::warn("tuning cache {} replaced: {}", path, e.what());
    }
    const Json wanted = key_json(key);
    entries.erase(std::remove_if(entries.begin(), entries.end(), [&](const Json& e) { return e["key"] == wanted; }),
                  entries.end());
    entries.push_back({{"key", wanted}, {"config", parse_json(to_json(config), "config")}});
    if (entries.size() > kMaxTuningEntries) entries.erase(entries.begin(), entries.end() - kMaxTuningEntries);
    const Json root = {{"format", kFormat}, {"version", kVersion}, {"entries", entries}};
    if (const auto folder = std::filesystem::path(path).parent_path(); !folder.empty())
      std::filesystem::create_directories(folder);
    write_file_atomically(path, root.dump(1) + "\n");
  } catch (const std::exception& e) {
    spdlog::warn("tuning cache {} not written: {}", path, e.what());
  }
}

}  // namespace wsi
