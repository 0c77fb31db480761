// Manifest reading, see include/wsi/job/manifest.hpp.
#include "wsi/job/manifest.hpp"

#include <filesystem>
#include <map>
#include <set>
#include <stdexcept>

#include "util/csv.hpp"
#include "util/file_name.hpp"

namespace wsi {
namespace {

namespace fs = std::filesystem;

std::string resolve(const fs::path& base, const std::string& path) {
  if (path.empty()) return "";
  const fs::path p(path);
  return (p.is_absolute() ? p : base / p).lexically_normal().string();
}

// The id, and the key made of it (the id sanitised, "_<n>" added when not unique), must fit
// the cohort file's fixed-width strings and stay a plain file name (at most 255 bytes).
void check_id_length(const std::string& id, const std::string& where) {
  if (id.size() > kMaxSlideIdBytes)
    throw std::invalid_argument("--slides: " + where + ": slide_id of " + std::to_string(id.size()) +
                                " bytes, more than the " + std::to_string(kMaxSlideIdBytes) + " accepted");
}

void assign_keys(std::vector<ManifestEntry>& entries) {
  std::set<std::string> used;
  for (auto& entry : entries) {
    std::string key = sanitise_key(entry.id);
    for (int n = 2; used.count(key); ++n) key = sanitise_key(entry.id) + "_" + std::to_string(n);
    used.insert(key);
    entry.key = key;
  }
}

std::vector<ManifestEntry> read_csv(const std::string& path) {
  CsvReader csv(path);
  std::vector<std::string> fields;
  if (!csv.next(fields)) throw std::invalid_argument("--slides: the manifest " + path + " is empty");
  const CsvHeader header(fields);
  if (header.column("slide_id") < 0 || header.column("path") < 0)
    throw std::invalid_argument("--slides: the manifest " + path + " needs a header with slide_id,path[,mask]");
  const fs::path base = fs::absolute(path).parent_path();
  std::vector<ManifestEntry> entries;
  while (csv.next(fields)) {
    ManifestEntry entry{header.field(fields, "slide_id"), resolve(base, header.field(fields, "path")),
                        resolve(base, header.field(fields, "mask")), ""};
    if (entry.id.empty() || entry.path.empty())
      throw std::invalid_argument("--slides: " + csv.where() + " has no slide_id or path");
    check_id_length(entry.id, csv.where());
    entries.push_back(entry);
  }
  if (entries.empty()) throw std::invalid_argument("--slides: the manifest " + path + " lists no slides");
  return entries;
}

}  // namespace

std::string sanitise_key(const std::string& id) { return sanitise_file_name(id); }

std::vector<ManifestEntry> read_manifest(const std::string& path) {
  if (!fs::exists(path)) throw std::invalid_argument("--slides: " + path + " does not exist");
  std::vector<ManifestEntry> entries;
  if (fs::path(path).extension() == ".csv") entries = read_csv(path);
  else entries.push_back({fs::path(path).stem().string(), path, "", ""});
  check_id_length(entries.front().id, "the slide file " + path);
  assign_keys(entries);
  return entries;
}

std::vector<long> duplicate_of(const std::vector<ManifestEntry>& entries) {
  std::map<std::string, long> first;
  std::vector<long> result;
  for (size_t i = 0; i < entries.size(); ++i) {
    const auto [it, inserted] = first.emplace(entries[i].id, static_cast<long>(i));
    result.push_back(inserted ? -1 : it->second);
  }
  return result;
}

}  // namespace wsi
