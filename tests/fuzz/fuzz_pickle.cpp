// libFuzzer target: the state_dict unpickler (src/model/torch_state_dict.cpp) on any bytes, with
// storage records that exist for keys "0".."3" (16 bytes each) and not for others.
#include <cstddef>
#include <cstdint>
#include <exception>

#include "model/torch_state_dict.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto records = [](const std::string& name) -> std::optional<std::string> {
    if (name.size() == 6 && name.compare(0, 5, "data/") == 0 && name[5] >= '0' && name[5] <= '3')
      return std::string(16, '\0');
    return std::nullopt;
  };
  try {
    wsi::model_detail::state_dict_from_pickle(reinterpret_cast<const char*>(data), size, records);
  } catch (const std::exception&) {  // refusing the input is the expected outcome
  }
  return 0;
}
