// JSON through nlohmann-json: /job/config, the progress file, `inspect --json`, the GeoJSON export
// and wsi_model.json. Json keeps keys in the order they were added, so the files read as they
// always did; parse_json adds limits that keep a hostile file from exhausting the memory.
#pragma once
#include <cstddef>
#include <string>

#include <nlohmann/json.hpp>

namespace wsi {

using Json = nlohmann::ordered_json;

// Compact text of `value` (non-finite numbers become null). Bytes that are not UTF-8 (a slide id
// or path from the filesystem) become U+FFFD instead of throwing.
std::string json_text(const Json& value);

// JSON text read into a tree. Refused, with std::invalid_argument naming `source`: over
// kMaxJsonBytes, nested deeper than kMaxJsonDepth, or not valid JSON.
inline constexpr size_t kMaxJsonBytes = size_t{16} << 20;
inline constexpr int kMaxJsonDepth = 64;
Json parse_json(const std::string& text, const std::string& source);
// The same for a file (at most kMaxJsonBytes + 1 bytes are read).
Json parse_json_file(const std::string& path);

}  // namespace wsi
