// SHA-256 (FIPS 180-4) of bytes or of a file, as lowercase hex: fingerprints weights, models and
// manifests without another dependency.
#pragma once
#include <string>

namespace wsi {

std::string sha256_hex(const std::string& bytes);
std::string sha256_file_hex(const std::string& path);  // throws std::runtime_error naming the file

}  // namespace wsi
