// Fuzz targets whose reader takes a path: the input is written to a file of this process first.
#pragma once
#include <unistd.h>

#include <cstdint>
#include <fstream>
#include <string>

inline std::string fuzz_input_file(const uint8_t* data, size_t size, const char* suffix) {
  const std::string path = "/tmp/wsi-fuzz-" + std::to_string(::getpid()) + suffix;
  std::ofstream(path, std::ios::binary | std::ios::trunc).write(reinterpret_cast<const char*>(data),
                                                                 static_cast<std::streamsize>(size));
  return path;
}
