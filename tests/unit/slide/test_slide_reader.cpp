// Opening slides: metadata normalised once (vendor, mpp, objective power, levels) on synthetic
// Aperio-style slides and on the real reference slides ([data]); files that are no slides.
#include <catch2/catch.hpp>

#include <fstream>

#include "test_support.hpp"
#include "wsi/slide/slide_reader.hpp"
#include "wsi/synth/synth_slide.hpp"
#include "wsi/units.hpp"

using namespace wsi;
using test::shared_data;

namespace {

const char* kCmu1 = "cmu-1-small-region/CMU-1-Small-Region.svs";
const char* kGenericTiff = "derived-cmu1-generic-tiff/CMU-1-Small-Region.pyramid.tif";
const char* kTcga = "tcga-cr-7395-ts1/tcga-cr-7395-01a-01-ts1.svs";
const char* kBoxes = "generic-tiff-boxes-pyramid/small_HE_levels.tiff";

}  // namespace

TEST_CASE("synthetic Aperio slides open with their mpp, power and halving levels", "[slide]") {
  const auto dir = test::scratch_dir("slide-synth");
  SynthSlideSpec spec;
  spec.width = 1500, spec.height = 1100, spec.levels = 3, spec.mpp = 0.25, spec.objective_power = 40, spec.seed = 3;
  const std::string path = (dir / "synth.svs").string();
  write_synth_slide(path, spec, make_synth_layout(spec));
  const auto slide = open_slide(path);
  const SlideProperties& p = slide->properties();
  CHECK(p.vendor == "aperio");
  CHECK(p.mpp == Approx(0.25));
  CHECK(p.objective_power == 40.0);
  CHECK(p.size() == Size{1500, 1100});
  const auto sizes = synth_level_sizes(spec);
  REQUIRE(p.levels.size() == sizes.size());
  for (size_t i = 0; i < sizes.size(); ++i) {
    INFO("level " << i);
    CHECK(p.levels[i].width == sizes[i].width);
    CHECK(p.levels[i].height == sizes[i].height);
    CHECK(p.levels[i].downsample == Approx(double(sizes[i].downsample)).epsilon(1e-3));
  }
  // An mpp override replaces the slide's own.
  CHECK(open_slide(path, {0.5})->properties().mpp == 0.5);
}

TEST_CASE("files that are no slides are refused, naming the file", "[slide]") {
  const auto dir = test::scratch_dir("slide-refused");
  std::ofstream(dir / "labels.csv") << "file,label\na.png,TUM\n";
  const std::string text = (dir / "labels.csv").string();
  CHECK_THROWS_WITH(open_slide(text), Catch::Contains("labels.csv"));
  CHECK_THROWS_WITH(open_slide("/nonexistent/slide.svs"), Catch::Contains("/nonexistent/slide.svs"));
}

TEST_CASE("TIFF resolution tags give an mpp only when they can be a scan's", "[slide]") {
  CHECK(mpp_from_tiff_resolution("20000", "centimeter") == Approx(0.5));
  CHECK(mpp_from_tiff_resolution("20040.08", "centimeter") == Approx(10000.0 / 20040.08));
  // 72 dpi and 28.34 px/cm (352 um/px) are defaults, not scan resolutions.
  CHECK(mpp_from_tiff_resolution("72", "inch") == 0.0);
  CHECK(mpp_from_tiff_resolution("28.34", "centimeter") == 0.0);
}


TEST_CASE("slide metadata is normalised once", "[slide][data]") {
  const auto aperio = open_slide(shared_data(kCmu1));
  CHECK(aperio->properties().vendor == "aperio");
  CHECK(aperio->properties().mpp == Approx(0.499));
  CHECK(aperio->properties().objective_power == 20.0);
  CHECK(aperio->properties().size() == Size{2220, 2967});

  // Generic TIFF: no openslide.mpp-x in OpenSlide 3.4.1; 20040.08 px/cm in the tags.
  const auto generic = open_slide(shared_data(kGenericTiff));
  CHECK(generic->properties().vendor == "generic-tiff");
  CHECK(generic->properties().mpp == Approx(10000.0 / 20040.08).epsilon(1e-6));
  CHECK(generic->properties().objective_power == 20.0);  // the common power nearest 10 / 0.499
  REQUIRE(generic->properties().levels.size() == 5);
  CHECK(generic->properties().levels[2].downsample == Approx(4.0020).epsilon(1e-4));

  // JPEG 2000 Aperio without MPP or AppMag.
  const auto tcga = open_slide(shared_data(kTcga));
  CHECK(tcga->properties().mpp == 0.0);
  CHECK(tcga->properties().objective_power == 0.0);
  CHECK_THROWS_WITH(size_at_resolution(tcga->properties(), {0.5, Units::mpp}), Catch::Contains("mpp"));
  const auto overridden = open_slide(shared_data(kTcga), {0.5});
  CHECK(overridden->properties().mpp == 0.5);
  CHECK(overridden->properties().objective_power == 20.0);

  // 28.34 px/cm is 352 um/px: a default, not a scan resolution.
  const auto boxes = open_slide(shared_data(kBoxes));
  CHECK(boxes->properties().mpp == 0.0);
}
