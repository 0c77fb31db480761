// libFuzzer target: the JSON reader behind wsi_model.json, the progress file and /job/config.
#include <cstddef>
#include <cstdint>
#include <exception>
#include <string>

#include "util/json.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    wsi::parse_json(std::string(reinterpret_cast<const char*>(data), size), "fuzz");
  } catch (const std::exception&) {
  }
  return 0;
}
