// The resolution math a cohort file's slide rows need (wsi/units.hpp): size and magnification
// from the scale, a tile's level-0 box, mpp at a power; values worked out by hand.
#include <catch2/catch.hpp>

#include "wsi/units.hpp"

using namespace wsi;

TEST_CASE("scale math: size, magnification, level-0 lengths and mpp at a power", "[units]") {
  // CMU-1-Small-Region at 0.5 mpp: level 0 is 2220 x 2967 at 0.499 mpp, scale 0.998.
  const Size at = size_from_scale({2220, 2967}, 0.998);
  CHECK(at.width == 2224);   // 2220 / 0.998 = 2224.45 -> 2224
  CHECK(at.height == 2973);  // 2967 / 0.998 = 2972.95 -> 2973
  CHECK(magnification_at_scale(20.0, 2.0) == 10.0);
  CHECK(magnification_at_scale(20.0, 0.0) == 0.0);  // unknown scale: no magnification
  CHECK(level0_length(224, 1.002004008016032) == 225);  // 224.45 -> ceil 225
  CHECK(level0_length(224, 2.0) == 448);
  const Level0Box b = level0_box(224, 0, 448, 224, 1.5);
  CHECK(b.x == 336);
  CHECK(b.y == 0);
  CHECK(b.width == 336);
  CHECK(b.height == 336);
  CHECK(mpp_at_power(20.0) == 0.5);
  CHECK(common_objective_power(mpp_at_power(40.0)) == 40.0);
}
