// Fuzz targets whose reader takes a path: the input is written to a file of this process first,
// in a folder made once per process under $TMPDIR (mkdtemp) and removed at exit.
#pragma once
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>

class FuzzScratch {
 public:
  FuzzScratch() {
    const char* tmp = std::getenv("TMPDIR");
    folder_ = std::string(tmp && *tmp ? tmp : "/tmp") + "/wsi-fuzz-XXXXXX";
    if (!::mkdtemp(folder_.data())) throw std::runtime_error("mkdtemp " + folder_ + " failed");
  }
  ~FuzzScratch() {
    std::error_code ignored;
    std::filesystem::remove_all(folder_, ignored);
  }
  const std::string& folder() const { return folder_; }

 private:
  std::string folder_;
};

inline std::string fuzz_input_file(const uint8_t* data, size_t size, const char* suffix) {
  static const FuzzScratch scratch;
  const std::string path = scratch.folder() + "/input" + suffix;
  std::ofstream(path, std::ios::binary | std::ios::trunc).write(reinterpret_cast<const char*>(data),
                                                                 static_cast<std::streamsize>(size));
  return path;
}
