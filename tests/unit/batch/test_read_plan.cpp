// Planned reads (one OpenSlide read per run of neighbouring tiles) give byte-identical patches to
// one read per tile (TIAToolbox's read_bounds rule), for every tile of a slide's grid, edge tiles
// outside the slide included, on the real slides of the parity tests and on a synthetic slide
// whose level-1 downsample is exactly 2 (where merges happen above level 0).
#include <catch2/catch.hpp>

#include <cstring>

#include "test_support.hpp"
#include "wsi/batch/patch_batch.hpp"
#include "wsi/grid/tile_grid.hpp"
#include "wsi/slide/region.hpp"
#include "wsi/slide/slide_reader.hpp"
#include "wsi/synth/synth_slide.hpp"

using namespace wsi;
using test::shared_data;

namespace {

// One patch read alone, the reference the planned reads must match: TIAToolbox's reading rule
// for the tile's bounds, then the resize to the model's input.
void read_patch(const SlideReader& slide, const BatchGeometry& g, const TileBounds& t, uint8_t* out) {
  const cv::Mat rgb = read_bounds_at_resolution(slide, g.resolution, t.x0, t.y0, t.x1, t.y1, g.pad);
  fit_to_input(rgb, g.input_width, g.input_height, out);
}

struct Case {
  std::string path;
  Resolution resolution;
  double mpp_override = 0;
  int expect_level = 0;
  bool expect_merges = true;
  bool expect_tiles = true;  // the level is read from its TIFF tiles (not JPEG 2000)
};

// Every tile of the grid: planned reads (whole grid in one plan; and the batch reader, batch 8
// with 2 readers, as the runner calls it; and with every third tile dropped) == per-tile reads.
void check_slide(const Case& c) {
  INFO(c.path << " at " << to_string(c.resolution));
  const auto slide = open_slide(c.path, {c.mpp_override});
  const auto openslide_only = open_slide(c.path, {c.mpp_override, 0});
  const BatchGeometry g{c.resolution, 224, 224};
  REQUIRE(optimal_read_level(slide->properties(), c.resolution).level == c.expect_level);
  CHECK(slide->reads_level_tiles(c.expect_level) == c.expect_tiles);
  CHECK_FALSE(openslide_only->reads_level_tiles(c.expect_level));
  const std::vector<TileBounds> tiles = patch_grid(size_at_resolution(slide->properties(), c.resolution), 224, 224);
  const int n = static_cast<int>(tiles.size());
  const size_t patch_bytes = 224 * 224 * 3;
  std::vector<uint8_t> expected(patch_bytes * n);
  for (int i = 0; i < n; ++i) read_patch(*slide, g, tiles[i], expected.data() + patch_bytes * i);

  const auto plans = plan_reads(slide->properties(), c.resolution, tiles.data(), n);
  int covered = 0;
  for (const auto& p : plans) covered += static_cast<int>(p.tiles.size());
  CHECK(covered == n);
  if (c.expect_merges) CHECK(plans.size() * 3 < tiles.size());
  WARN(c.path << ": " << n << " tiles in " << plans.size() << " reads");
  for (const SlideReader* reader : {openslide_only.get(), slide.get()}) {  // OpenSlide, then TIFF tiles
    std::vector<uint8_t> planned(patch_bytes * n, 7);
    for (const auto& p : plans) read_planned(*reader, g, tiles.data(), p, planned.data());
    for (int i = 0; i < n; ++i) {
      INFO("tile " << i << " [" << tiles[i].x0 << ", " << tiles[i].y0 << ", " << tiles[i].x1 << ", " << tiles[i].y1
                   << ")");
      REQUIRE(std::memcmp(planned.data() + patch_bytes * i, expected.data() + patch_bytes * i, patch_bytes) == 0);
    }
  }

  // The batch reader reads Aperio / generic TIFF levels at integer positions from the TIFF tiles.
  const PatchBatch all = PatchBatchReader(2).read(*slide, g, tiles.data(), n).get();
  REQUIRE(std::memcmp(all.pixels.data(), expected.data(), patch_bytes * n) == 0);
  const PatchBatchReader reader(2);
  for (int first = 0; first < n; first += 8) {
    const int count = std::min(8, n - first);
    const PatchBatch batch = reader.read(*slide, g, tiles.data() + first, count).get();
    REQUIRE(batch.count == count);
    REQUIRE(std::memcmp(batch.pixels.data(), expected.data() + patch_bytes * first, patch_bytes * count) == 0);
  }

  // A mask that drops tiles: no read covers a dropped tile, and the kept ones still match.
  std::vector<TileBounds> kept;
  std::vector<int> index;
  for (int i = 0; i < n; ++i)
    if (i % 3 != 1) kept.push_back(tiles[i]), index.push_back(i);
  const PatchBatch batch = PatchBatchReader(1).read(*slide, g, kept.data(), static_cast<int>(kept.size())).get();
  for (size_t j = 0; j < kept.size(); ++j)
    REQUIRE(std::memcmp(batch.pixels.data() + patch_bytes * j, expected.data() + patch_bytes * index[j], patch_bytes) == 0);
  const auto level = optimal_read_level(slide->properties(), c.resolution).level;
  for (const auto& p : plan_reads(slide->properties(), c.resolution, kept.data(), static_cast<int>(kept.size()))) {
    const double ds = slide->properties().levels[level].downsample;
    for (int i = 1; i < n; i += 3) {  // the dropped tiles
      const RegionRead r = region_at_resolution(slide->properties(), c.resolution, tiles[i].x0, tiles[i].y0,
                                                tiles[i].x1, tiles[i].y1);
      const bool same_rows = r.y == p.region.y;
      const double left = p.region.x / ds, right = left + p.region.width;
      const double tile_left = r.x / ds, tile_right = tile_left + r.width;
      // A read may share a column or two with a dropped neighbour (boxes of 225 px on a
      // 224-px grid overlap), never most of it.
      if (same_rows) CHECK((tile_right <= left + 2 || tile_left >= right - 2));
    }
  }
}

}  // namespace

TEST_CASE("planned reads give the per-tile patches: CMU-1 at level 0", "[batch][data]") {
  check_slide({shared_data("cmu-1-small-region/CMU-1-Small-Region.svs"), {0.5, Units::mpp}, 0, 0, true});
}

TEST_CASE("planned reads give the per-tile patches: generic TIFF at level 2", "[batch][data]") {
  // Downsample 4.002...: level positions x / ds rarely share a fraction, so most tiles get their own read.
  check_slide({shared_data("derived-cmu1-generic-tiff/CMU-1-Small-Region.pyramid.tif"), {2.0, Units::mpp}, 0, 2, false});
  // Level 0: every tile merges, and the batch reader reads the generic TIFF's tiles directly.
  check_slide({shared_data("derived-cmu1-generic-tiff/CMU-1-Small-Region.pyramid.tif"), {0.5, Units::mpp}, 0, 0, true});
}

TEST_CASE("planned reads give the per-tile patches: TCGA at level 1 with mpp override", "[batch][data]") {
  check_slide({shared_data("tcga-cr-7395-ts1/tcga-cr-7395-01a-01-ts1.svs"), {1.0, Units::mpp}, 0.5, 1, false, false});
}

TEST_CASE("planned reads give the per-tile patches: synthetic slide at level 1, downsample 2", "[batch]") {
  const auto dir = test::scratch_dir("batch-planned");
  SynthSlideSpec spec;
  spec.width = 3000, spec.height = 2000, spec.levels = 2, spec.seed = 3;
  const std::string path = (dir / "synth.svs").string();
  write_synth_slide(path, spec, make_synth_layout(spec));
  check_slide({path, {1.0, Units::mpp}, 0, 1, true});
  // Between levels: 0.7 mpp is read at level 0 and shrunk (INTER_AREA).
  check_slide({path, {0.7, Units::mpp}, 0, 0, true});
}

TEST_CASE("read plans merge runs of one grid row only where the level position agrees", "[batch]") {
  SlideProperties slide;
  slide.levels = {{10000, 8000, 1.0}, {3333, 2666, 3.0003}};
  slide.mpp = 0.5;
  const std::vector<TileBounds> row = {{0, 0, 224, 224}, {224, 0, 448, 224}, {448, 0, 672, 224},
                                       {0, 224, 224, 448}, {448, 224, 672, 448}};
  const auto plans = plan_reads(slide, {0.5, Units::mpp}, row.data(), 5);
  REQUIRE(plans.size() == 3);  // row 0; row 1 with a gap of one tile (too wide to bridge)
  CHECK(plans[0].tiles == std::vector<int>{0, 1, 2});
  CHECK(plans[0].offset_x == std::vector<int64_t>{0, 224, 448});
  CHECK(plans[0].region.width == 672);
  CHECK(plans[1].tiles == std::vector<int>{3});
  CHECK(plans[2].tiles == std::vector<int>{4});
  ReadPlanOptions small;
  small.max_region = 500;
  CHECK(plan_reads(slide, {0.5, Units::mpp}, row.data(), 3, small).size() == 2);
  small = {};
  small.max_tiles = 2;
  CHECK(plan_reads(slide, {0.5, Units::mpp}, row.data(), 3, small).size() == 2);
  // At level 1 (ds 3.0003) neighbours' positions x / ds have different fractions: one read each.
  CHECK(plan_reads(slide, {1.50009, Units::mpp}, row.data(), 3).size() == 3);
}
