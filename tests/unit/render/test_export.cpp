// Export geometry: level-0 boxes of the CLAM / GeoJSON exports from the tile bounds.
#include <catch2/catch.hpp>

#include <cmath>
#include <string>
#include <vector>

#include "wsi/render/export.hpp"

using namespace wsi;

TEST_CASE("export geometry: level-0 boxes are ceil(bounds x scale)", "[features][export]") {
  const TileBounds tile{672, 224, 896, 448};
  const Level0Box b = level0_box(tile, 1.002004008016032);
  CHECK(b.x == 674);  // ceil(673.347)
  CHECK(b.y == 225);  // ceil(224.449)
  CHECK(b.width == 225);
  CHECK(b.height == 225);
  const Level0Box twice = level0_box(tile, 2.0);
  CHECK(twice.x == 1344);
  CHECK(twice.width == 448);
  SlideRow slide;
  slide.scale = 2.0, slide.objective_power = 40, slide.width = 5000, slide.height = 4000;
  const ClamAttributes a = clam_attributes(slide, 224);
  CHECK(a.patch_size == 224);
  CHECK(a.patch_level == 0);
  CHECK(a.patch_size_level0 == 448);
  CHECK(a.level0_magnification == 40);
  CHECK(a.target_magnification == 20);
  CHECK(a.level0_width == 5000);
  CHECK(parse_export_format("geojson") == ExportFormat::geojson);
  CHECK_THROWS_AS(parse_export_format("csv"), std::invalid_argument);
}
