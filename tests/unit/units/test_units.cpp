// Resolution math: level choice, sizes and read boxes at a requested resolution, against values
// worked out by hand from TIAToolbox 1.4.1's formulas. The slides are described by hand, with
// the metadata OpenSlide 3.4.1 reports for the reference slides (CMU-1-Small-Region.svs and its
// 5-level generic TIFF copy), so that these tests need no slide file.
#include <catch2/catch.hpp>

#include <cmath>

#include "wsi/units.hpp"

using namespace wsi;

namespace {

// CMU-1-Small-Region.svs: Aperio, one level 2220 x 2967, 0.499 mpp, 20x.
SlideProperties cmu1() {
  SlideProperties p;
  p.vendor = "aperio";
  p.mpp = 0.499;
  p.objective_power = 20.0;
  p.levels = {{2220, 2967, 1.0}};
  return p;
}

// derived-cmu1-generic-tiff: 5 levels with OpenSlide's (inexact) downsamples; 10000 / 20040.08
// mpp from the TIFF resolution tags, 20x as the common power nearest 10 / mpp.
SlideProperties generic_tiff() {
  SlideProperties p;
  p.vendor = "generic-tiff";
  p.mpp = 10000.0 / 20040.08;
  p.objective_power = 20.0;
  p.levels = {{2220, 2967, 1.0},
              {1110, 1483, 2.000337154416723},
              {555, 741, 4.0020242914979756},
              {277, 370, 8.0166796760659587},
              {138, 185, 16.062397179788483}};
  return p;
}

}  // namespace

TEST_CASE("a slide without mpp: mpp and power requests refused, levels read", "[units]") {
  SlideProperties p;  // as the TCGA JPEG 2000 slide: no MPP, no AppMag
  p.vendor = "aperio";
  p.levels = {{4443, 3567, 1.0}, {2221, 1783, 2.0004}};
  CHECK_THROWS_WITH(size_at_resolution(p, {0.5, Units::mpp}), Catch::Contains("mpp"));
  CHECK_THROWS_WITH(size_at_resolution(p, {20, Units::power}), Catch::Contains("power"));
  CHECK(size_at_resolution(p, {1, Units::level}) == Size{2221, 1783});
}

TEST_CASE("the fallback objective power is the common power nearest 10 / mpp", "[units]") {
  CHECK(common_objective_power(0.499) == 20.0);
  CHECK(common_objective_power(10000.0 / 20040.08) == 20.0);
  CHECK(common_objective_power(0.25) == 40.0);
  CHECK(common_objective_power(1.0) == 10.0);
  CHECK(common_objective_power(7.0) == 1.25);
}

TEST_CASE("level choice follows relative level scales rounded to 3 decimals", "[units]") {
  const SlideProperties p = generic_tiff();
  // scale_i = 0.499 * ds_i / requested
  CHECK(optimal_read_level(p, {0.5, Units::mpp}).level == 0);   // 0.998
  CHECK(optimal_read_level(p, {1.0, Units::mpp}).level == 1);   // 0.998 at ds 2.0003
  CHECK(optimal_read_level(p, {2.0, Units::mpp}).level == 2);   // 0.9985 at ds 4.0020
  CHECK(optimal_read_level(p, {4.0, Units::mpp}).level == 3);   // 1.00008 at ds 8.0167 rounds to 1.000
  CHECK(optimal_read_level(p, {0.25, Units::mpp}).level == 0);  // above the scan: level 0, scale 1.996
  CHECK(optimal_read_level(p, {0.25, Units::mpp}).scale.x == Approx(1.996));
  CHECK(optimal_read_level(p, {2.5, Units::power}).level == 2);  // ds / 8: 1.002 at level 3 is too coarse
  CHECK(optimal_read_level(p, {2, Units::level}).level == 2);
  // ds * 0.5: 1.00015 at level 1 rounds to 1.000, so level 1 is read, with its unrounded scale.
  CHECK(optimal_read_level(p, {0.5, Units::baseline}).level == 1);
  CHECK(optimal_read_level(p, {0.5, Units::baseline}).scale.x > 1.0);
  CHECK_THROWS(optimal_read_level(p, {7, Units::level}));
}

TEST_CASE("slide size at a resolution rounds twice at the read level", "[units]") {
  const SlideProperties cmu = cmu1();
  // round(2220 * 0.998) = 2216, round(2967 * 0.998) = round(2961.066) = 2961
  CHECK(size_at_resolution(cmu, {0.5, Units::mpp}) == Size{2216, 2961});
  // power 10 of 20: round(1110), round(1483.5) = 1484 (half to even)
  CHECK(size_at_resolution(cmu, {10, Units::power}) == Size{1110, 1484});
  CHECK(baseline_per_requested(cmu, {0.5, Units::mpp}).x == Approx(0.5 / 0.499));

  const SlideProperties p = generic_tiff();
  // Level 2: round(2220 / 4.0020) = 555, round(2967 / 4.0020) = 741; times 0.49900 * 4.0020 / 2.
  const double s2 = p.mpp * p.levels[2].downsample / 2.0;
  CHECK(size_at_resolution(p, {2.0, Units::mpp}) == Size{std::llrint(555 * s2), std::llrint(741 * s2)});
  CHECK(size_at_resolution(p, {2, Units::level}) == Size{555, 741});
}

TEST_CASE("a patch read box follows read_bounds at the requested resolution", "[units]") {
  // Level 0, s = 0.998: top-left ceil(224 / 0.998) = 225, size ceil(224 / 0.998) = 225.
  const RegionRead r = region_at_resolution(cmu1(), {0.5, Units::mpp}, 224, 448, 448, 672);
  CHECK(r.level == 0);
  CHECK(r.x == 225);
  CHECK(r.y == 449);  // ceil(448 / 0.998) = ceil(448.897)
  CHECK(r.width == 225);
  CHECK(r.height == 225);

  const SlideProperties p = generic_tiff();
  const RegionRead g = region_at_resolution(p, {2.0, Units::mpp}, 224, 0, 448, 224);
  const double s = p.mpp / 2.0;  // level-0 to requested, as 1 / ds * scale
  CHECK(g.level == 2);
  CHECK(g.x == static_cast<int64_t>(std::ceil(224 / (1.0 / p.levels[2].downsample * (p.mpp * p.levels[2].downsample / 2.0)))));
  CHECK(g.x == static_cast<int64_t>(std::ceil(224 / s)));
  CHECK(g.width == std::llrint(std::ceil(224 / s) / p.levels[2].downsample));
  CHECK(g.level_x == std::llrint(g.x / p.levels[2].downsample));
}
