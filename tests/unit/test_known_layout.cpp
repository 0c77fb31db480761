// The known-layout test: the demo model on a synthetic slide read at an mpp other than the
// slide's own must put every class where the slide's ground truth has it. A swapped x/y, an
// off-by-one scale or a wrong level would misplace the regions.
#include <catch2/catch.hpp>

#include "test_support.hpp"
#include "wsi/cohort/cohort_file.hpp"
#include "wsi/synth/synth_slide.hpp"

using namespace wsi;

namespace {

struct Agreement {
  int64_t compared = 0, agreeing = 0;                // every unambiguous pixel
  int64_t tissue_compared = 0, tissue_agreeing = 0;  // those inside a region
  double fraction() const { return compared ? static_cast<double>(agreeing) / compared : 0.0; }
  double tissue_fraction() const { return tissue_compared ? static_cast<double>(tissue_agreeing) / tissue_compared : 0.0; }
};

// Compares map pixels whose ground truth is unambiguous: the same class (or background) over
// the whole box of one patch (`margin` level-0 px) around the pixel's centre.
Agreement compare(const SlideMaps& maps, const SynthLayout& layout, double margin, bool transpose) {
  Agreement a;
  const double sx = static_cast<double>(layout.width) / maps.shape.width;
  const double sy = static_cast<double>(layout.height) / maps.shape.height;
  for (int64_t y = 0; y < maps.shape.height; ++y)
    for (int64_t x = 0; x < maps.shape.width; ++x) {
      double cx = (x + 0.5) * sx, cy = (y + 0.5) * sy;
      if (transpose) std::swap(cx, cy), cx *= static_cast<double>(layout.width) / layout.height,
                                         cy *= static_cast<double>(layout.height) / layout.width;
      const int truth = layout.class_at(cx, cy);
      bool uniform = true;
      for (double dy : {-margin, 0.0, margin})
        for (double dx : {-margin, 0.0, margin}) uniform = uniform && layout.class_at(cx + dx, cy + dy) == truth;
      if (!uniform) continue;
      const bool agrees = maps.prediction[y * maps.shape.width + x] == truth + 1;
      ++a.compared, a.agreeing += agrees;
      if (truth >= 0) ++a.tissue_compared, a.tissue_agreeing += agrees;
    }
  return a;
}

}  // namespace

TEST_CASE("prediction maps match the synthetic ground truth at another resolution", "[e2e][layout]") {
  const auto dir = test::scratch_dir("known-layout");
  const std::string bin = WSI_BINARY;
  // Slide at 0.25 mpp, 4 levels; patches read at 0.3 mpp: level 0, shrunk by 0.833 (cubic).
  test::run_command(bin + " synth --output " + dir.string() + " --slides 1 --size 9000x6500 --mpp 0.25 --levels 4 --seed 7");
  const std::string cohort = (dir / "cohort.h5").string();
  test::run_command(bin + " run --job " + (dir / "job.ini").string() + " --resolution 0.3 --threads 2 --overwrite");
  const CohortSummary summary = read_cohort_summary(cohort);
  REQUIRE(summary.slides.size() == 1);
  REQUIRE(summary.slides[0].status == SlideStatus::done);
  const SlideMaps maps = read_slide_maps(cohort, summary.slides[0].key);
  const SynthLayout layout = read_layout_csv((dir / "layouts" / "slide_001.csv").string(), 9000, 6500);
  // Overview 4 mpp of a 0.25 mpp slide, read at level 3: round(round(9000 / 8) * 0.5) = 562
  // (562.5 rounds half to even), round(round(6500 / 8) * 0.5) = round(406.5) = 406.
  CHECK(maps.shape.width == 562);
  CHECK(maps.shape.height == 406);
  const double patch_level0 = 224 * 0.3 / 0.25;
  const Agreement right = compare(maps, layout, patch_level0, false);
  INFO("compared " << right.compared << " pixels, " << right.agreeing << " agree");
  CHECK(right.tissue_compared > 5000);
  CHECK(right.fraction() > 0.98);
  CHECK(right.tissue_fraction() > 0.98);
  // The same comparison with x and y swapped must fail: the check can see a transposed map.
  const Agreement swapped = compare(maps, layout, patch_level0, true);
  CHECK(swapped.tissue_fraction() < 0.5);
}
