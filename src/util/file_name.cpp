// Plain file names, see file_name.hpp.
#include "util/file_name.hpp"

#include <cctype>

namespace wsi {

namespace {
bool plain(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-'; }
}  // namespace

std::string sanitise_file_name(const std::string& text) {
  std::string name;
  for (char c : text) name += plain(c) ? c : '_';
  if (name.empty() || name[0] == '.') name = "_" + name;
  return name;
}

bool is_plain_file_name(const std::string& name) {
  return !name.empty() && name.size() <= 255 && name == sanitise_file_name(name);
}

}  // namespace wsi
