// libFuzzer target: the manifest reader (src/job/manifest.cpp over src/util/csv.cpp).
#include <cstddef>
#include <cstdint>
#include <exception>

#include "fuzz_file_input.hpp"
#include "wsi/job/manifest.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = fuzz_input_file(data, size, ".csv");
  try {
    const auto entries = wsi::read_manifest(path);
    wsi::duplicate_of(entries);
  } catch (const std::exception&) {
  }
  return 0;
}
