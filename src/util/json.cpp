// JSON writer, see json.hpp.
#include "util/json.hpp"

#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include <boost/property_tree/json_parser.hpp>

namespace wsi {

std::string json_quote(const std::string& text) {
  std::string out = "\"";
  for (unsigned char c : text) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          char escaped[8];
          std::snprintf(escaped, sizeof escaped, "\\u%04x", c);
          out += escaped;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out + "\"";
}

namespace {

std::string number(double value) {
  if (!std::isfinite(value)) return "null";
  char text[32];
  std::snprintf(text, sizeof text, "%.17g", value);
  return text;
}

}  // namespace

void JsonObject::key(const std::string& key) {
  if (!body_.empty()) body_ += ",";
  body_ += json_quote(key) + ":";
}

JsonObject& JsonObject::add(const std::string& k, const std::string& value) {
  key(k);
  body_ += json_quote(value);
  return *this;
}

JsonObject& JsonObject::add(const std::string& k, double value) {
  key(k);
  body_ += number(value);
  return *this;
}

JsonObject& JsonObject::add(const std::string& k, int64_t value) {
  key(k);
  body_ += std::to_string(value);
  return *this;
}

JsonObject& JsonObject::add(const std::string& k, bool value) {
  key(k);
  body_ += value ? "true" : "false";
  return *this;
}

JsonObject& JsonObject::add(const std::string& k, const std::vector<std::string>& values) {
  std::vector<std::string> items;
  for (const auto& v : values) items.push_back(json_quote(v));
  return add_raw(k, json_array(items));
}

JsonObject& JsonObject::add(const std::string& k, const std::vector<double>& values) {
  std::vector<std::string> items;
  for (double v : values) items.push_back(number(v));
  return add_raw(k, json_array(items));
}

JsonObject& JsonObject::add_raw(const std::string& k, const std::string& json) {
  key(k);
  body_ += json;
  return *this;
}

std::string json_array(const std::vector<std::string>& raw_items) {
  std::string out = "[";
  for (size_t i = 0; i < raw_items.size(); ++i) out += (i ? "," : "") + raw_items[i];
  return out + "]";
}

boost::property_tree::ptree parse_json(const std::string& text, const std::string& source) {
  if (text.size() > kMaxJsonBytes)
    throw std::invalid_argument(source + ": JSON of " + std::to_string(text.size()) + " bytes, more than the " +
                                std::to_string(kMaxJsonBytes) + " accepted");
  int depth = 0;
  bool in_string = false, escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped) escaped = false;
      else if (c == '\\') escaped = true;
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      if (++depth > kMaxJsonDepth)
        throw std::invalid_argument(source + ": JSON nested deeper than " + std::to_string(kMaxJsonDepth) + " levels");
    } else if (c == '}' || c == ']') {
      --depth;
    }
  }
  boost::property_tree::ptree root;
  try {
    std::istringstream in(text);
    boost::property_tree::read_json(in, root);
  } catch (const std::exception& e) {
    throw std::invalid_argument(source + ": not valid JSON: " + e.what());
  }
  return root;
}

boost::property_tree::ptree parse_json_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::invalid_argument(path + ": cannot be read");
  std::string text(kMaxJsonBytes + 1, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<size_t>(in.gcount()));
  return parse_json(text, path);
}

}  // namespace wsi
