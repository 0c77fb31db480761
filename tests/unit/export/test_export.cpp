// Exports: level-0 boxes of the CLAM / GeoJSON exports from the tile bounds; which slides a
// cohort export leaves out (and says so in the log) or refuses.
#include <catch2/catch.hpp>

#include <cmath>
#include <string>
#include <vector>

#include "test_support.hpp"
#include "wsi/cohort/cohort_file.hpp"
#include "wsi/export/export.hpp"

using namespace wsi;

TEST_CASE("export geometry: level-0 boxes are ceil(bounds x scale)", "[features][export]") {
  const TileBounds tile{672, 224, 896, 448};
  const Level0Box b = level0_box(tile.x0, tile.y0, tile.x1, tile.y1, 1.002004008016032);
  CHECK(b.x == 674);  // ceil(673.347)
  CHECK(b.y == 225);  // ceil(224.449)
  CHECK(b.width == 225);
  CHECK(b.height == 225);
  const Level0Box twice = level0_box(tile.x0, tile.y0, tile.x1, tile.y1, 2.0);
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

TEST_CASE("export: slides that are not done are left out and logged, asked-for ones refused", "[export]") {
  const auto dir = test::scratch_dir("export-pending");
  const std::string path = (dir / "cohort.h5").string();
  const CohortPlan plan = test::two_slide_plan();
  CohortFile::create(path, plan, test::world());

  ExportOptions options;
  options.format = ExportFormat::geojson;
  options.output = (dir / "out").string();
  {
    test::LogCapture log;
    CHECK_THROWS_WITH(export_cohort(path, options), Catch::Contains("has no done slides to export"));
    CHECK_THAT(log.text(), Catch::Contains("info: slide 's1' is not done: not exported") &&
                               Catch::Contains("info: slide 's2' is not done: not exported"));
  }
  options.slide = "s2";
  CHECK_THROWS_WITH(export_cohort(path, options), Catch::Contains("slide 's2' is not done (pending)"));
  options.slide = "zz";
  CHECK_THROWS_WITH(export_cohort(path, options), Catch::Contains("has no slide 'zz'"));
  options.slide.clear();
  options.format = ExportFormat::clam;
  CHECK_THROWS_WITH(export_cohort(path, options), Catch::Contains("has no tile features"));
}
