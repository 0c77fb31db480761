// The patch grid at the requested resolution and its filter by the tissue mask.
#include <catch2/catch.hpp>

#include <opencv2/core.hpp>

#include "wsi/grid/tile_grid.hpp"

using namespace wsi;

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

TEST_CASE("the extractor rule scales by the height ratio on both axes and rounds up", "[grid]") {
  // Slide 1000 x 1000, mask 100 x 100: one tissue pixel at column 44, row 0.
  cv::Mat mask(100, 100, CV_8UC1, cv::Scalar(0));
  mask.at<uint8_t>(0, 44) = 255;
  const auto tiles = patch_grid({1000, 1000}, 224, 224);
  // Predictor: [224, 448) -> columns 22.4..44.8 truncated to [22, 44), misses 44; [448, 672) -> [44, 67).
  const auto predictor = filter_by_mask(tiles, mask, {1000, 1000}, TileRule::predictor);
  REQUIRE(predictor.size() == 1);
  CHECK(predictor[0] == TileBounds{448, 0, 672, 224});
  // Extractor: ceil -> [23, 45) holds 44; [448, 672) -> [45, 68) does not.
  const auto extractor = filter_by_mask(tiles, mask, {1000, 1000}, TileRule::extractor);
  REQUIRE(extractor.size() == 1);
  CHECK(extractor[0] == TileBounds{224, 0, 448, 224});

  // Slide 1000 x 800, mask 100 x 40: width ratio 0.1, height ratio 0.05; tissue at column 30, row 5.
  cv::Mat wide(40, 100, CV_8UC1, cv::Scalar(0));
  wide.at<uint8_t>(5, 30) = 1;
  const auto grid = patch_grid({1000, 800}, 224, 224);
  // Predictor, per axis: x [224, 448) -> [22, 44) holds 30.
  const auto per_axis = filter_by_mask(grid, wide, {1000, 800}, TileRule::predictor);
  REQUIRE(per_axis.size() == 1);
  CHECK(per_axis[0] == TileBounds{224, 0, 448, 224});
  // Extractor, 0.05 on x as well: [224, 448) -> [12, 23); [448, 672) -> [23, 34) holds 30.
  const auto height_only = filter_by_mask(grid, wide, {1000, 800}, TileRule::extractor);
  REQUIRE(height_only.size() == 1);
  CHECK(height_only[0] == TileBounds{448, 0, 672, 224});
}
