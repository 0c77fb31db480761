// The enum name tables: names both ways, aliases accepted but never written, the error listing
// the names, and the project's enums through their parse / to_string pairs.
#include <catch2/catch.hpp>

#include "util/enum_names.hpp"
#include "wsi/job/job.hpp"
#include "wsi/mask/tissue_mask.hpp"
#include "wsi/model/model.hpp"
#include "wsi/units.hpp"

namespace {

enum class Colour { red, green, blue, unlisted };
constexpr wsi::EnumName<Colour> kColours[] = {
    {Colour::red, "red"}, {Colour::green, "green"}, {Colour::blue, "blue"}, {Colour::red, "rouge"}};

}  // namespace

TEST_CASE("enum names: both ways, aliases, errors", "[enum]") {
  CHECK(wsi::parse_enum(kColours, "green", "colour") == Colour::green);
  CHECK(wsi::parse_enum(kColours, "rouge", "colour") == Colour::red);
  CHECK(std::string(wsi::enum_name(kColours, Colour::red)) == "red");
  CHECK(std::string(wsi::enum_name(kColours, Colour::unlisted)) == "unknown");
  CHECK_THROWS_WITH(wsi::parse_enum(kColours, "Green", "unknown colour"),
                    "unknown colour 'Green' (expected red, green or blue)");
}

TEST_CASE("enum names: the project's enums round-trip", "[enum]") {
  for (auto mode : {wsi::JobMode::classify, wsi::JobMode::features, wsi::JobMode::both})
    CHECK(wsi::parse_job_mode(wsi::to_string(mode)) == mode);
  for (auto units : {wsi::Units::mpp, wsi::Units::power, wsi::Units::level, wsi::Units::baseline})
    CHECK(wsi::parse_units(wsi::to_string(units)) == units);
  for (auto method : {wsi::MaskMethod::otsu, wsi::MaskMethod::morphological, wsi::MaskMethod::none})
    CHECK(wsi::parse_mask_method(wsi::to_string(method)) == method);
  CHECK(wsi::parse_mask_method("otsu") == wsi::MaskMethod::otsu);
  CHECK(wsi::to_string(wsi::MaskMethod::otsu) == "auto");
  CHECK(wsi::parse_precision("half") == wsi::Precision::fp16);
  CHECK(wsi::to_string(wsi::parse_precision("bfloat16")) == "bf16");
  CHECK_THROWS_WITH(wsi::parse_precision("int8"), "unknown precision 'int8' (expected fp32, bf16, fp16 or auto)");
  CHECK_THROWS_WITH(wsi::parse_job_mode("all"), "--mode: unknown mode 'all' (expected classify, features or both)");
}
