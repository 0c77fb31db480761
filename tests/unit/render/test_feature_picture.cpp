// Features: the PCA colour picture of `wsi-mpi render` (<key>.features.png). Pure functions on
// hand-made data (PCA axes and signs, numpy percentiles, the colour scale, canvas boxes shared
// with merge_predictions). (The real binary on a synthetic slide: tests/e2e/feature_picture.py.)
#include <catch2/catch.hpp>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "wsi/maps/prediction_map.hpp"
#include "wsi/render/feature_picture.hpp"

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
