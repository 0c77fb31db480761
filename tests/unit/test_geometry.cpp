// Resolution math, level choice, reading boxes, grid, mask filter and merge, against values
// worked out by hand from TIAToolbox 1.4.1's formulas, on the real slides in ../shared/data.
#include <catch2/catch.hpp>

#include <opencv2/imgproc.hpp>

#include "test_support.hpp"
#include "wsi/grid/tile_grid.hpp"
#include "wsi/maps/prediction_map.hpp"
#include "wsi/mask/tissue_mask.hpp"
#include "wsi/slide/region.hpp"
#include "wsi/slide/slide_reader.hpp"
#include "wsi/synth/synth_slide.hpp"
#include "wsi/units.hpp"

using namespace wsi;
using test::shared_data;

namespace {

const char* kCmu1 = "cmu-1-small-region/CMU-1-Small-Region.svs";
const char* kGenericTiff = "derived-cmu1-generic-tiff/CMU-1-Small-Region.pyramid.tif";
const char* kTcga = "tcga-cr-7395-ts1/tcga-cr-7395-01a-01-ts1.svs";
const char* kTiny = "cmu-1-tiny-16px/small.svs";
const char* kBoxes = "generic-tiff-boxes-pyramid/small_HE_levels.tiff";

}  // namespace

TEST_CASE("slide metadata is normalised once", "[slide]") {
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
  CHECK(mask_resolution(tcga->properties()).units == Units::baseline);
  CHECK_THROWS_WITH(size_at_resolution(tcga->properties(), {0.5, Units::mpp}), Catch::Contains("mpp"));
  const auto overridden = open_slide(shared_data(kTcga), {0.5});
  CHECK(overridden->properties().mpp == 0.5);
  CHECK(overridden->properties().objective_power == 20.0);

  // 28.34 px/cm is 352 um/px: a default, not a scan resolution.
  const auto boxes = open_slide(shared_data(kBoxes));
  CHECK(boxes->properties().mpp == 0.0);
  CHECK(mpp_from_tiff_resolution("72", "inch") == 0.0);
  CHECK(mpp_from_tiff_resolution("20000", "centimeter") == Approx(0.5));

  CHECK_THROWS_WITH(open_slide(shared_data("crc-val-he-7k-32patches/labels.csv")), Catch::Contains("labels.csv"));
  CHECK_THROWS_WITH(open_slide("/nonexistent/slide.svs"), Catch::Contains("/nonexistent/slide.svs"));
}

TEST_CASE("level choice follows relative level scales rounded to 3 decimals", "[units]") {
  const auto generic = open_slide(shared_data(kGenericTiff));
  const SlideProperties& p = generic->properties();
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
  const auto cmu = open_slide(shared_data(kCmu1));
  // round(2220 * 0.998) = 2216, round(2967 * 0.998) = round(2961.066) = 2961
  CHECK(size_at_resolution(cmu->properties(), {0.5, Units::mpp}) == Size{2216, 2961});
  // power 10 of 20: round(1110), round(1483.5) = 1484 (half to even)
  CHECK(size_at_resolution(cmu->properties(), {10, Units::power}) == Size{1110, 1484});
  CHECK(baseline_per_requested(cmu->properties(), {0.5, Units::mpp}).x == Approx(0.5 / 0.499));

  const auto generic = open_slide(shared_data(kGenericTiff));
  const SlideProperties& p = generic->properties();
  // Level 2: round(2220 / 4.0020) = 555, round(2967 / 4.0020) = 741; times 0.49900 * 4.0020 / 2.
  const double s2 = p.mpp * p.levels[2].downsample / 2.0;
  CHECK(size_at_resolution(p, {2.0, Units::mpp}) == Size{std::llrint(555 * s2), std::llrint(741 * s2)});
  CHECK(size_at_resolution(p, {2, Units::level}) == Size{555, 741});
}

TEST_CASE("a patch read box follows read_bounds at the requested resolution", "[units]") {
  const auto cmu = open_slide(shared_data(kCmu1));
  // Level 0, s = 0.998: top-left ceil(224 / 0.998) = 225, size ceil(224 / 0.998) = 225.
  const RegionRead r = region_at_resolution(cmu->properties(), {0.5, Units::mpp}, 224, 448, 448, 672);
  CHECK(r.level == 0);
  CHECK(r.x == 225);
  CHECK(r.y == 449);  // ceil(448 / 0.998) = ceil(448.897)
  CHECK(r.width == 225);
  CHECK(r.height == 225);

  const auto generic = open_slide(shared_data(kGenericTiff));
  const SlideProperties& p = generic->properties();
  const RegionRead g = region_at_resolution(p, {2.0, Units::mpp}, 224, 0, 448, 224);
  const double s = p.mpp / 2.0;  // level-0 to requested, as 1 / ds * scale
  CHECK(g.level == 2);
  CHECK(g.x == static_cast<int64_t>(std::ceil(224 / (1.0 / p.levels[2].downsample * (p.mpp * p.levels[2].downsample / 2.0)))));
  CHECK(g.x == static_cast<int64_t>(std::ceil(224 / s)));
  CHECK(g.width == std::llrint(std::ceil(224 / s) / p.levels[2].downsample));
  CHECK(g.level_x == std::llrint(g.x / p.levels[2].downsample));
}

TEST_CASE("patch grid is row-major and keeps partial edge tiles", "[grid]") {
  const auto tiles = patch_grid({500, 300}, 224, 224);
  REQUIRE(tiles.size() == 6);  // x 0, 224, 448; y 0, 224
  CHECK(tiles[0] == TileBounds{0, 0, 224, 224});
  CHECK(tiles[2] == TileBounds{448, 0, 672, 224});
  CHECK(tiles[3] == TileBounds{0, 224, 224, 448});
  // Stride below the patch: x in arange(0, ceil(500 / 224) * 224 = 672, 100) -> 7, y -> 5.
  CHECK(patch_grid({500, 300}, 224, 100).size() == 35);
  CHECK(patch_grid({224, 224}, 224, 224).size() == 1);
}

TEST_CASE("mask filter scales, clips and truncates bounds to the mask", "[grid]") {
  // Slide 1000 x 800 at the resolution; mask 100 x 80 (factor 0.1).
  cv::Mat mask(80, 100, CV_8UC1, cv::Scalar(0));
  mask.at<uint8_t>(30, 45) = 1;  // tile x in [450, 460) -> the tile [448, 672) and [224, 448)? no: 448*0.1=44.8->44
  const auto tiles = patch_grid({1000, 800}, 224, 224);
  const auto kept = filter_by_mask(tiles, mask, {1000, 800});
  // Tiles covering mask column 45, row 30: x0 = 448 (44.8 -> 44 .. 67.2 -> 67), y0 = 224 (22 .. 44).
  REQUIRE(kept.size() == 1);
  CHECK(kept[0] == TileBounds{448, 224, 672, 448});
  // A tile whose scaled box is empty after truncation is dropped.
  cv::Mat tiny(2, 2, CV_8UC1, cv::Scalar(1));
  CHECK(filter_by_mask({{0, 0, 4, 4}}, tiny, {1000, 1000}).empty());
  // Edge tiles reaching past the slide are clipped to the mask and still kept.
  cv::Mat corner(80, 100, CV_8UC1, cv::Scalar(0));
  corner.at<uint8_t>(79, 99) = 1;
  const auto edge = filter_by_mask(tiles, corner, {1000, 800});
  REQUIRE(edge.size() == 1);
  CHECK(edge[0] == TileBounds{896, 672, 1120, 896});
}

TEST_CASE("Otsu threshold matches scikit-image on uint8 images", "[mask]") {
  // Two flat classes: every split between them is equally good; skimage takes the first.
  cv::Mat two(10, 10, CV_8UC1, cv::Scalar(10));
  two.rowRange(5, 10).setTo(200);
  CHECK(otsu_threshold(two) == 10);
  cv::Mat flat(4, 4, CV_8UC1, cv::Scalar(77));
  CHECK(otsu_threshold(flat) == 77);
  // A noisy image, checked against skimage itself.
  const auto dir = test::scratch_dir("otsu");
  cv::Mat noisy(64, 64, CV_8UC1);
  cv::RNG rng(3);
  for (int y = 0; y < 64; ++y)
    for (int x = 0; x < 64; ++x)
      noisy.at<uint8_t>(y, x) = cv::saturate_cast<uint8_t>((x < 30 ? 90 : 220) + rng.gaussian(20));
  cv::Mat as_float;
  noisy.convertTo(as_float, CV_32F);
  const auto path = (dir / "grey.raw").string();
  FILE* f = std::fopen(path.c_str(), "wb");
  std::fwrite(noisy.data, 1, noisy.total(), f);
  std::fclose(f);
  const std::string out = test::run_command(
      std::string(WSI_TEST_PYTHON) +
      " -c \"import numpy as np; from skimage.filters import threshold_otsu; "
      "print(threshold_otsu(np.fromfile('" + path + "', np.uint8)))\"");
  CHECK(otsu_threshold(noisy) == std::stoi(out));
}

TEST_CASE("tissue masks of real slides", "[mask]") {
  const auto cmu = open_slide(shared_data(kCmu1));
  const Resolution at = mask_resolution(cmu->properties());
  CHECK(at.units == Units::power);
  const cv::Mat thumbnail = read_thumbnail(*cmu, at);
  // 1.25x of 20x: scale 0.0625 at level 0; round(2220 * 0.0625) = 139 (138.75), round(185.4375) = 185.
  CHECK(thumbnail.cols == 139);
  CHECK(thumbnail.rows == 185);
  const cv::Mat otsu = tissue_mask(thumbnail, MaskMethod::otsu, 8.0);
  const double fraction = cv::countNonZero(otsu) / static_cast<double>(otsu.total());
  CHECK(fraction > 0.2);
  CHECK(fraction < 0.8);
  // Morphological: small specks removed, then dilated by a 4 px ellipse -> at least as much tissue
  // as a plain dilation of the large regions, and never less than Otsu's large regions.
  const cv::Mat morph = tissue_mask(thumbnail, MaskMethod::morphological, 8.0);
  CHECK(cv::countNonZero(morph) >= cv::countNonZero(otsu) * 0.9);
  CHECK(cv::countNonZero(tissue_mask(thumbnail, MaskMethod::none, 8.0)) == static_cast<int>(thumbnail.total()));
}

TEST_CASE("shrinking in strips gives OpenCV's INTER_AREA bytes", "[mask]") {
  cv::RNG rng(11);
  int whole = 0, general = 0;
  for (int i = 0; i < 300; ++i) {
    cv::Size source(rng.uniform(1, 700), rng.uniform(1, 700));
    cv::Size output(rng.uniform(1, source.width + 1), rng.uniform(1, source.height + 1));
    if (i % 5 == 0) {  // whole factors, 1 included
      const int fx = rng.uniform(1, 9), fy = rng.uniform(1, 9);
      output = cv::Size(std::max(1, source.width / fx), std::max(1, source.height / fy));
      source.width = output.width * fx, source.height = output.height * fy;
    }
    cv::Mat image(source, i % 2 ? CV_8UC4 : CV_8UC3);
    rng.fill(image, cv::RNG::UNIFORM, 0, 256);
    cv::Mat expected;
    cv::resize(image, expected, output, 0, 0, cv::INTER_AREA);
    const int64_t strip_rows = rng.uniform(1, 90);
    int64_t next = 0;
    const cv::Mat strips = shrink_in_strips(source, output, strip_rows, [&](int64_t first, int64_t count) {
      REQUIRE(first >= next - 1);  // in order (a row shared by two output rows may be asked again)
      REQUIRE(count <= std::max<int64_t>(strip_rows, source.height / output.height));
      next = first + count;
      return image.rowRange(static_cast<int>(first), static_cast<int>(first + count)).clone();
    });
    INFO(source << " -> " << output << " strips of " << strip_rows);
    REQUIRE(strips.type() == expected.type());
    REQUIRE(cv::norm(strips, expected, cv::NORM_INF) == 0);
    (source.width % output.width == 0 && source.height % output.height == 0 ? whole : general) += 1;
  }
  CHECK(whole > 30);
  CHECK(general > 200);
}

TEST_CASE("thumbnails read in strips are the one-piece read's bytes", "[mask]") {
  // 20x, 2 levels (downsamples 1, 2): 1.25x is read at level 1 (over one 16 MiB strip) from the
  // TIFF tiles and shrunk by 8 (whole factors: OpenCV's integer path) or by about 8 (its
  // weighed path).
  const auto dir = test::scratch_dir("thumbnail-strips");
  for (const Size size : {Size{4800, 4000}, Size{4810, 4030}}) {
    SynthSlideSpec spec;
    spec.width = size.width, spec.height = size.height, spec.levels = 2, spec.seed = 5;
    const std::string path = (dir / ("synth-" + std::to_string(size.width) + ".svs")).string();
    write_synth_slide(path, spec, make_synth_layout(spec));
    const auto slide = open_slide(path);
    const Resolution at = mask_resolution(slide->properties());
    Size output;
    const RegionRead read = region_at_baseline(slide->properties(), at, 0, 0, size.width, size.height, &output);
    REQUIRE(read.level == 1);
    REQUIRE(read.width * read.height > (int64_t{1} << 22));
    CHECK((read.width % output.width == 0) == (size.width == 4800));
    const cv::Mat strips = read_thumbnail(*slide, at);
    const cv::Mat whole = read_bounds_at_baseline(*slide, at, 0, 0, size.width, size.height);
    REQUIRE(strips.size() == whole.size());
    CHECK(cv::norm(strips, whole, cv::NORM_INF) == 0);
    // Not a blank image: tissue and background both present.
    cv::Mat grey;
    cv::cvtColor(strips, grey, cv::COLOR_RGB2GRAY);
    double lo = 0, hi = 0;
    cv::minMaxLoc(grey, &lo, &hi);
    CHECK(hi - lo > 50);
  }
}

TEST_CASE("merge_predictions paints argmax + 1 where tiles land", "[maps]") {
  // Slide 448 x 224 at the resolution, canvas 56 x 28 (factor 1/8): two tiles side by side.
  const std::vector<TileBounds> tiles = {{0, 0, 224, 224}, {224, 0, 448, 224}};
  const float probabilities[] = {0.1f, 0.7f, 0.2f, 0.6f, 0.3f, 0.1f};
  const cv::Mat map = merge_predictions(tiles, probabilities, 3, {448, 224}, {56, 28});
  CHECK(map.cols == 56);
  CHECK(map.rows == 28);
  CHECK(map.at<uint8_t>(0, 0) == 2);
  CHECK(map.at<uint8_t>(27, 27) == 2);
  CHECK(map.at<uint8_t>(0, 28) == 1);
  // Overlap: the mean decides; uncovered pixels stay 0.
  const std::vector<TileBounds> overlap = {{0, 0, 224, 224}, {112, 0, 336, 224}};
  const cv::Mat m2 = merge_predictions(overlap, probabilities, 3, {448, 224}, {56, 28});
  CHECK(m2.at<uint8_t>(0, 20) == 2);  // (0.1+0.6, 0.7+0.3, 0.2+0.1): class 1 -> 2
  CHECK(m2.at<uint8_t>(0, 50) == 0);
  const auto fractions = class_fractions(probabilities, 2, 3);
  CHECK(fractions[0] == Approx(0.5));
  CHECK(fractions[1] == Approx(0.5));
}
