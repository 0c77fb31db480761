// libFuzzer target: the JSON reader behind wsi_model.json, the progress file and /job/config, and
// the numeric configuration read from /job/numeric_config and the tuning cache.
#include <cstddef>
#include <cstdint>
#include <exception>
#include <string>

#include "util/json.hpp"
#include "wsi/model/model.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    wsi::parse_json(text, "fuzz");
  } catch (const std::exception&) {
  }
  try {
    wsi::parse_numeric_config(text, "fuzz");
  } catch (const std::invalid_argument&) {  // the only refusal it may throw
  }
  return 0;
}
