// The manifest: which slides a job covers. A CSV with header slide_id,path[,mask] (paths
// relative to the CSV), or a single slide file (id = file name without extension).
#pragma once
#include <cstddef>
#include <string>
#include <vector>

namespace wsi {

struct ManifestEntry {
  std::string id;
  std::string path;  // absolute or relative to the working directory
  std::string mask;  // "" when the manifest names none
  std::string key;   // sanitised, unique name used under /maps
};

// Longest slide id accepted (a key, made of it, stays a plain file name the cohort file can hold).
inline constexpr size_t kMaxSlideIdBytes = 200;

// Throws std::invalid_argument (a usage error) when the manifest cannot be read or parsed, or
// names a slide id longer than kMaxSlideIdBytes.
// Duplicate ids are kept (they fail as slides later, see duplicate_of).
std::vector<ManifestEntry> read_manifest(const std::string& path);

// A name safe as an HDF5 group and a file name: [A-Za-z0-9._-], others become '_'.
std::string sanitise_key(const std::string& id);

// For each entry, the index of an earlier entry with the same id, or -1.
std::vector<long> duplicate_of(const std::vector<ManifestEntry>& entries);

}  // namespace wsi
