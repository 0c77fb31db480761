// Prediction maps: argmax + 1 painted where tiles land, and class fractions.
#include <catch2/catch.hpp>

#include <vector>

#include "wsi/maps/prediction_map.hpp"

using namespace wsi;

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
