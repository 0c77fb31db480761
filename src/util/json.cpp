// JSON reading and writing, see json.hpp.
#include "util/json.hpp"

#include <fstream>
#include <stdexcept>

namespace wsi {

std::string json_text(const Json& value) { return value.dump(-1, ' ', false, Json::error_handler_t::replace); }

Json parse_json(const std::string& text, const std::string& source) {
  if (text.size() > kMaxJsonBytes)
    throw std::invalid_argument(source + ": JSON of " + std::to_string(text.size()) + " bytes, more than the " +
                                std::to_string(kMaxJsonBytes) + " accepted");
  // `depth` counts the containers around the one that starts: the 65th level is refused.
  const Json::parser_callback_t limit_depth = [&source](int depth, Json::parse_event_t event, Json&) {
    const bool opens = event == Json::parse_event_t::object_start || event == Json::parse_event_t::array_start;
    if (opens && depth >= kMaxJsonDepth)
      throw std::invalid_argument(source + ": JSON nested deeper than " + std::to_string(kMaxJsonDepth) + " levels");
    return true;
  };
  try {
    return Json::parse(text, limit_depth);
  } catch (const Json::exception& e) {
    throw std::invalid_argument(source + ": not valid JSON: " + e.what());
  }
}

Json parse_json_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::invalid_argument(path + ": cannot be read");
  std::string text(kMaxJsonBytes + 1, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<size_t>(in.gcount()));
  return parse_json(text, path);
}

}  // namespace wsi
