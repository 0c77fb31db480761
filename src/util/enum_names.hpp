// Enum values and their names, one table per enum, for the parse / to_string pairs of options
// and file fields. A table lists each value's name first, then any aliases parse also accepts.
#pragma once
#include <cstddef>
#include <stdexcept>
#include <string>
#include <vector>

namespace wsi {

template <typename E>
struct EnumName {
  E value;
  const char* name;
};

// The name of `value` (its first entry), or "unknown" for a value the table does not list
// (a corrupt file field).
template <typename E, size_t N>
const char* enum_name(const EnumName<E> (&table)[N], E value) {
  for (const auto& entry : table)
    if (entry.value == value) return entry.name;
  return "unknown";
}

// The value named `text`. Otherwise throws std::invalid_argument "<what> '<text>' (expected a, b
// or c)", listing each value's name (aliases are not listed).
template <typename E, size_t N>
E parse_enum(const EnumName<E> (&table)[N], const std::string& text, const std::string& what) {
  for (const auto& entry : table)
    if (text == entry.name) return entry.value;
  std::vector<const char*> names;
  for (const auto& entry : table)
    if (enum_name(table, entry.value) == entry.name) names.push_back(entry.name);  // not an alias
  std::string list;
  for (size_t i = 0; i < names.size(); ++i)
    list += std::string(i == 0 ? "" : i + 1 == names.size() ? " or " : ", ") + names[i];
  throw std::invalid_argument(what + " '" + text + "' (expected " + list + ")");
}

}  // namespace wsi
