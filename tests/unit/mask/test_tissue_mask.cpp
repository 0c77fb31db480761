// Tissue masks: Otsu's threshold against scikit-image, thumbnails shrunk in strips (synthetic
// slides), and the masks of a real slide ([data]).
#include <catch2/catch.hpp>

#include <opencv2/imgproc.hpp>

#include "test_support.hpp"
#include "wsi/mask/tissue_mask.hpp"
#include "wsi/slide/region.hpp"
#include "wsi/slide/slide_reader.hpp"
#include "wsi/synth/synth_slide.hpp"
#include "wsi/units.hpp"

using namespace wsi;
using test::shared_data;

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
  const std::string out = test::run_python("otsu_reference.py", path);
  CHECK(otsu_threshold(noisy) == std::stoi(out));
}

TEST_CASE("masks are made at 1.25x, or at baseline / 16 without a power", "[mask]") {
  SlideProperties with_power;
  with_power.mpp = 0.499, with_power.objective_power = 20.0;
  with_power.levels = {{2220, 2967, 1.0}};
  CHECK(mask_resolution(with_power).units == Units::power);
  CHECK(mask_resolution(with_power).value == 1.25);
  SlideProperties without = with_power;  // as the TCGA JPEG 2000 slide: no MPP, no AppMag
  without.mpp = 0.0, without.objective_power = 0.0;
  CHECK(mask_resolution(without).units == Units::baseline);
  CHECK(mask_resolution(without).value == 1.0 / 16.0);
}

TEST_CASE("tissue masks of real slides", "[mask][data]") {
  const auto cmu = open_slide(shared_data("cmu-1-small-region/CMU-1-Small-Region.svs"));
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
