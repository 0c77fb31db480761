// Slide keys become group names under /maps and file names in export and render: only letters,
// digits, '.', '_' and '-', never starting with '.', so that no key can name another folder.
#pragma once
#include <string>

namespace wsi {

// Every other character replaced by '_'; a leading '.' (or nothing) gets a '_' in front.
std::string sanitise_file_name(const std::string& text);
// True when `name` is what sanitise_file_name leaves alone (and at most 255 bytes).
bool is_plain_file_name(const std::string& name);

}  // namespace wsi
