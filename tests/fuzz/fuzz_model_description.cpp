// libFuzzer target: the meaning of wsi_model.json (parse_model_description: kinds, ranges, the
// input-size cap, class names, normalisation). A description it accepts must satisfy what the
// model stage relies on and survive its own round trip; the only refusal is std::invalid_argument.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <stdexcept>
#include <string>

#include "wsi/model/model.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  wsi::ModelDescription description;
  try {
    description = wsi::parse_model_description(text, "fuzz");
  } catch (const std::invalid_argument&) {
    return 0;
  }
  // What the batches and the model rely on: a bounded input, finite normalisation.
  if (description.input_width < 1 || description.input_width > 4096 || description.input_height < 1 ||
      description.input_height > 4096 || description.feature_size < 0 || description.prefix_tokens < 1 ||
      !std::isfinite(description.scale))
    std::abort();
  for (const double v : description.mean)
    if (!std::isfinite(v)) std::abort();
  for (const double v : description.std)
    if (!std::isfinite(v) || v == 0.0) std::abort();
  // Its own text parses back to the same text.
  const std::string again = wsi::to_json(description);
  if (wsi::to_json(wsi::parse_model_description(again, "fuzz round trip")) != again) std::abort();
  return 0;
}
