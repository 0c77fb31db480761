// Manifest reading, see include/wsi/job/manifest.hpp.
#include "wsi/job/manifest.hpp"

#include "util/file_name.hpp"

#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <stdexcept>

namespace wsi {
namespace {

namespace fs = std::filesystem;

// One CSV line: comma separated, double quotes allowed around a field ("" inside for a quote).
std::vector<std::string> split_csv(const std::string& line) {
  std::vector<std::string> fields(1);
  bool quoted = false;
  for (size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (quoted && c == '"' && i + 1 < line.size() && line[i + 1] == '"') fields.back() += '"', ++i;
    else if (c == '"') quoted = !quoted;
    else if (c == ',' && !quoted) fields.emplace_back();
    else if (c != '\r') fields.back() += c;
  }
  return fields;
}

std::string trim(const std::string& s) {
  const auto begin = s.find_first_not_of(" \t");
  if (begin == std::string::npos) return "";
  return s.substr(begin, s.find_last_not_of(" \t") - begin + 1);
}

std::string resolve(const fs::path& base, const std::string& path) {
  if (path.empty()) return "";
  const fs::path p(path);
  return (p.is_absolute() ? p : base / p).lexically_normal().string();
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
  std::ifstream in(path);
  if (!in) throw std::invalid_argument("--slides: cannot read the manifest " + path);
  std::string line;
  if (!std::getline(in, line)) throw std::invalid_argument("--slides: the manifest " + path + " is empty");
  const auto header = split_csv(line);
  std::map<std::string, size_t> column;
  for (size_t i = 0; i < header.size(); ++i) column[trim(header[i])] = i;
  if (!column.count("slide_id") || !column.count("path"))
    throw std::invalid_argument("--slides: the manifest " + path + " needs a header with slide_id,path[,mask]");
  const fs::path base = fs::absolute(path).parent_path();
  std::vector<ManifestEntry> entries;
  for (int number = 2; std::getline(in, line); ++number) {
    if (trim(line).empty()) continue;
    const auto fields = split_csv(line);
    const auto field = [&](const char* name) {
      const auto it = column.find(name);
      return (it != column.end() && it->second < fields.size()) ? trim(fields[it->second]) : std::string();
    };
    ManifestEntry entry{field("slide_id"), resolve(base, field("path")), resolve(base, field("mask")), ""};
    if (entry.id.empty() || entry.path.empty())
      throw std::invalid_argument("--slides: line " + std::to_string(number) + " of " + path +
                                  " has no slide_id or path");
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
