// Features: the PCA colour picture of `wsi-mpi render` (<key>.features.png) and the export
// geometry. Pure functions on hand-made data (PCA axes and signs, numpy percentiles, the colour
// scale, canvas boxes shared with merge_predictions, level-0 boxes); then the real binary on a
// synthetic slide (synth, run --mode features with the built-in resnet18 and seeded weights,
// render): the picture's colours must separate the slide's known class regions.
#include <catch2/catch.hpp>

#include <cmath>
#include <filesystem>
#include <map>
#include <random>
#include <string>
#include <vector>

#include <opencv2/imgcodecs.hpp>

#include "test_support.hpp"
#include "wsi/cohort/cohort_file.hpp"
#include "wsi/maps/prediction_map.hpp"
#include "wsi/render/export.hpp"
#include "wsi/render/feature_picture.hpp"
#include "wsi/synth/synth_slide.hpp"

using namespace wsi;

TEST_CASE("feature PCA finds the axes of known data, with the documented signs", "[features]") {
  // 3-D points spread 10 / 3 / 1 along the axes (-z, x, y): component 1 is z up to sign, and the
  // sign rule (largest-magnitude entry positive) makes it +z.
  std::mt19937 rng(3);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> rows;
  const int n = 2000;
  for (int i = 0; i < n; ++i) {
    const float a = normal(rng) * 10, b = normal(rng) * 3, c = normal(rng);
    rows.insert(rows.end(), {b + 5, c - 2, -a + 1});
  }
  FeatureMoments moments;
  accumulate_feature_moments(moments, rows.data(), n / 2, 3);  // in two parts: same moments
  accumulate_feature_moments(moments, rows.data() + 3 * (n / 2), n - n / 2, 3);
  CHECK(moments.count == n);
  const FeaturePca pca = feature_pca(moments);
  REQUIRE(pca.components.size() == 9);
  CHECK(pca.mean[0] == Approx(5).margin(0.3));
  CHECK(pca.mean[2] == Approx(1).margin(1.0));
  CHECK(pca.components[2] == Approx(1).margin(1e-3));   // component 1 = +z
  CHECK(pca.components[3] == Approx(1).margin(1e-2));   // component 2 = +x
  CHECK(std::abs(pca.components[7]) == Approx(1).margin(1e-2));  // component 3 = +-y, positive by the rule
  CHECK(pca.components[7] > 0);
  const std::vector<float> scores = project_features(pca, rows.data(), n);
  double var0 = 0, var1 = 0;
  for (int i = 0; i < n; ++i) var0 += scores[3 * i] * scores[3 * i], var1 += scores[3 * i + 1] * scores[3 * i + 1];
  CHECK(std::sqrt(var0 / n) == Approx(10).epsilon(0.1));
  CHECK(std::sqrt(var1 / n) == Approx(3).epsilon(0.1));
  CHECK_THROWS_AS(accumulate_feature_moments(moments, rows.data(), 1, 4), std::invalid_argument);
  CHECK_THROWS_AS(feature_pca(FeatureMoments{}), std::invalid_argument);
}

TEST_CASE("the colour scale runs from the 1st to the 99th percentile (numpy linear)", "[features]") {
  // Column 0: 0..100 (101 values): percentiles 1 and 99 are exactly 1 and 99. Column 1: 0..100
  // reversed. Column 2: constant.
  std::vector<float> scores;
  for (int i = 0; i <= 100; ++i) scores.insert(scores.end(), {float(i), float(100 - i), 7.0f});
  const ScoreRange range = score_range(scores);
  CHECK(range.low[0] == Approx(1.0));
  CHECK(range.high[0] == Approx(99.0));
  CHECK(range.low[1] == Approx(1.0));
  CHECK(range.high[1] == Approx(99.0));
  CHECK(range.low[2] == range.high[2]);
  // numpy.percentile([0, 10], 25) == 2.5
  const ScoreRange two = score_range({0, 0, 0, 10, 10, 10}, 25, 75);
  CHECK(two.low[0] == Approx(2.5));
  CHECK(two.high[0] == Approx(7.5));
  const std::vector<uint8_t> rgb = scores_to_rgb(scores, range);
  CHECK(int(rgb[0]) == 0);                       // 0 below the 1st percentile: clamped
  CHECK(int(rgb[3 * 50]) == 128);                // 50 -> 255 x 49 / 98 = 127.5 -> 128
  CHECK(int(rgb[3 * 99]) == 255);
  CHECK(int(rgb[3 * 100]) == 255);
  CHECK(int(rgb[3 * 0 + 1]) == 255);
  CHECK(int(rgb[2]) == 128);                     // constant component
}

TEST_CASE("tiles are painted on the boxes merge_predictions uses", "[features]") {
  const Size slide{1000, 700}, canvas{125, 88};
  const std::vector<TileBounds> tiles = {{0, 0, 224, 224}, {224, 0, 448, 224}, {896, 672, 1120, 896}};
  // One class per tile: the prediction map shows each tile's box.
  const std::vector<float> probabilities = {1, 0, 0, 0, 1, 0, 0, 0, 1};
  const cv::Mat map = merge_predictions(tiles, probabilities.data(), 3, slide, canvas);
  const std::vector<uint8_t> colours = {255, 0, 0, 0, 255, 0, 0, 0, 255};
  const std::vector<uint8_t> thumbnail(3 * canvas.width * canvas.height, 200);
  const cv::Mat painted = paint_tile_colours(tiles, colours.data(), slide, canvas, thumbnail.data());
  REQUIRE(painted.rows == 88);
  REQUIRE(painted.cols == 125);
  for (int y = 0; y < painted.rows; ++y)
    for (int x = 0; x < painted.cols; ++x) {
      const int k = map.at<uint8_t>(y, x);
      const cv::Vec3b expected = k == 0 ? cv::Vec3b(200, 200, 200)
                                        : cv::Vec3b(colours[3 * (k - 1) + 2], colours[3 * (k - 1) + 1], colours[3 * (k - 1)]);
      INFO("pixel " << x << "," << y);
      REQUIRE(painted.at<cv::Vec3b>(y, x) == expected);
    }
  const CanvasBox box = tile_box_on_canvas(tiles[1], slide, canvas);
  CHECK(box.x0 == 28);  // ceil(224 x 0.125)
  CHECK(box.x1 == 56);
  CHECK(box.y1 == 29);  // ceil(224 x 88 / 700) = ceil(28.16)
  const CanvasBox edge = tile_box_on_canvas(tiles[2], slide, canvas);
  CHECK(edge.x1 == 125);  // clipped
  CHECK(edge.y1 == 88);
  const FeaturePictureLayout both = feature_picture_layout(125, 88, true, 512);
  CHECK(both.scale == 5);
  CHECK(both.features.x == both.prediction.width + 8);
  CHECK(feature_picture_layout(125, 88, false, 512).features.x == 0);
}

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

namespace {

cv::Vec3d mean_colour(const std::vector<cv::Vec3d>& pixels) {
  cv::Vec3d sum(0, 0, 0);
  for (const auto& p : pixels) sum += p;
  return pixels.empty() ? sum : sum * (1.0 / pixels.size());
}

}  // namespace

TEST_CASE("the feature picture's colours separate the known regions of a synthetic slide", "[e2e][features]") {
  const auto dir = test::scratch_dir("features-picture");
  const std::string bin = WSI_BINARY;
  const int64_t width = 5000, height = 3600;
  test::run_command(bin + " synth --output " + dir.string() + " --slides 1 --size 5000x3600 --mpp 0.5 --seed 11");
  // Seeded TIAToolbox-style resnet18 weights (random backbone, BatchNorm statistics spread).
  const std::string weights = (dir / "resnet18.pth").string();
  test::run_command(std::string(WSI_TEST_PYTHON) + " -c \"import sys; sys.path.insert(0, '" + WSI_TESTS_DIR +
                    "/python'); import torch, tiatoolbox_reference as t, parity_features as p; torch.manual_seed(5); "
                    "m = p.randomise_batchnorm(t.CNNModel('resnet18', 9)); t.save_state_dict(m, '" + weights + "')\"");
  const std::string cohort = (dir / "features.h5").string();
  test::run_command(bin + " run --slides " + (dir / "manifest.csv").string() + " --model resnet18-kather100k --weights " +
                    weights + " --mode features --output " + cohort + " --threads 2 --batch-size 16");
  const CohortSummary summary = read_cohort_summary(cohort);
  REQUIRE(summary.slides.size() == 1);
  REQUIRE(summary.slides[0].status == SlideStatus::done);
  REQUIRE_FALSE(summary.has_probabilities);
  REQUIRE(summary.feature_size == 512);

  const auto out = dir / "render";
  test::run_command(bin + " render " + cohort + " --output " + out.string());
  const std::string key = summary.slides[0].key;
  CHECK_FALSE(std::filesystem::exists(out / (key + ".overlay.png")));  // no probabilities: no overlay
  const cv::Mat picture = cv::imread((out / (key + ".features.png")).string(), cv::IMREAD_COLOR);
  REQUIRE(!picture.empty());
  const SlideMaps maps = read_slide_maps(cohort, key);
  const FeaturePictureLayout layout =
      feature_picture_layout(int(maps.shape.width), int(maps.shape.height), false, 512);
  REQUIRE(picture.cols == layout.size.width);
  REQUIRE(picture.rows == layout.size.height);

  // Overview pixels whose ground truth is one class over a whole patch around them.
  const SynthLayout truth = read_layout_csv((dir / "layouts" / "slide_001.csv").string(), width, height);
  const double sx = double(width) / maps.shape.width, sy = double(height) / maps.shape.height;
  const double margin = 224;  // level-0 px of one patch at 0.5 mpp on a 0.5 mpp slide
  std::map<int, std::vector<cv::Vec3d>> by_class;
  for (int64_t y = 0; y < maps.shape.height; ++y)
    for (int64_t x = 0; x < maps.shape.width; ++x) {
      const double cx = (x + 0.5) * sx, cy = (y + 0.5) * sy;
      const int k = truth.class_at(cx, cy);
      if (k < 0) continue;
      bool uniform = true;
      for (double dy : {-margin, 0.0, margin})
        for (double dx : {-margin, 0.0, margin}) uniform = uniform && truth.class_at(cx + dx, cy + dy) == k;
      if (!uniform) continue;
      const cv::Vec3b p = picture.at<cv::Vec3b>(int(y) * layout.scale + layout.scale / 2,
                                                int(x) * layout.scale + layout.scale / 2);
      by_class[k].push_back(cv::Vec3d(p[0], p[1], p[2]));
    }
  REQUIRE(by_class.size() >= 3);
  std::map<int, cv::Vec3d> means;
  for (const auto& [k, pixels] : by_class) {
    means[k] = mean_colour(pixels);
    INFO("class " << k);
    CHECK(pixels.size() > 50);
  }
  double closest = 1e9;
  for (const auto& [a, ma] : means)
    for (const auto& [b, mb] : means)
      if (a < b) closest = std::min(closest, cv::norm(ma - mb));
  std::string summary_text;
  for (const auto& [k, m] : means)
    summary_text += " class " + std::to_string(k) + " BGR(" + std::to_string(int(m[0])) + "," +
                    std::to_string(int(m[1])) + "," + std::to_string(int(m[2])) + ") from " +
                    std::to_string(by_class[k].size()) + " px;";
  INFO("mean colours:" << summary_text << " closest pair " << closest);
  CHECK(closest > 40.0);

  // --pca cohort over a one-slide cohort: same basis and range, the same picture.
  const auto cohort_out = dir / "render-cohort";
  test::run_command(bin + " render " + cohort + " --pca cohort --output " + cohort_out.string());
  const cv::Mat same = cv::imread((cohort_out / (key + ".features.png")).string(), cv::IMREAD_COLOR);
  REQUIRE(same.size() == picture.size());
  CHECK(cv::norm(same, picture, cv::NORM_INF) <= 1.0);
}
