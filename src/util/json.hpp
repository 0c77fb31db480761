// A minimal JSON writer (objects, arrays, strings, numbers, booleans) for /job/config, the
// progress file and `inspect --json`; reading goes through parse_json (boost::property_tree,
// behind limits that keep a hostile file from exhausting the stack or the memory).
#pragma once
#include <sstream>
#include <string>
#include <vector>

#include <boost/property_tree/ptree.hpp>

namespace wsi {

std::string json_quote(const std::string& text);

// Builds one JSON object; values are appended in call order.
class JsonObject {
 public:
  JsonObject& add(const std::string& key, const std::string& value);
  JsonObject& add(const std::string& key, const char* value) { return add(key, std::string(value)); }
  JsonObject& add(const std::string& key, double value);
  JsonObject& add(const std::string& key, int64_t value);
  JsonObject& add(const std::string& key, int value) { return add(key, static_cast<int64_t>(value)); }
  JsonObject& add(const std::string& key, bool value);
  JsonObject& add(const std::string& key, const std::vector<std::string>& values);
  JsonObject& add(const std::string& key, const std::vector<double>& values);
  JsonObject& add_raw(const std::string& key, const std::string& json);  // a nested object or array
  std::string str() const { return "{" + body_ + "}"; }

 private:
  void key(const std::string& key);
  std::string body_;
};

std::string json_array(const std::vector<std::string>& raw_items);  // items already JSON

// JSON text read into a tree. Refused, with std::invalid_argument naming `source`: over
// kMaxJsonBytes, nested deeper than kMaxJsonDepth (the parser recurses), or not valid JSON.
inline constexpr size_t kMaxJsonBytes = size_t{16} << 20;
inline constexpr int kMaxJsonDepth = 64;
boost::property_tree::ptree parse_json(const std::string& text, const std::string& source);
// The same for a file (at most kMaxJsonBytes are read).
boost::property_tree::ptree parse_json_file(const std::string& path);

}  // namespace wsi
