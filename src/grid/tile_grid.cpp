// Tile grid and mask filter, see include/wsi/grid/tile_grid.hpp.
#include "wsi/grid/tile_grid.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include <opencv2/imgproc.hpp>

namespace wsi {

std::vector<TileBounds> patch_grid(Size slide, int patch, int stride) {
  if (patch <= 0 || stride <= 0) throw std::invalid_argument("patch and stride must be positive");
  const auto span = [patch](int64_t length) { return (length + patch - 1) / patch * patch; };
  std::vector<TileBounds> tiles;
  for (int64_t y = 0; y < span(slide.height); y += stride)
    for (int64_t x = 0; x < span(slide.width); x += stride)
      tiles.push_back({static_cast<int32_t>(x), static_cast<int32_t>(y), static_cast<int32_t>(x + patch),
                       static_cast<int32_t>(y + patch)});
  return tiles;
}

namespace {

// A mask box of the tile, [x0, x1) x [y0, y1) inside the mask, by the rule's scaling.
struct MaskBox {
  int x0, y0, x1, y1;
};

MaskBox predictor_box(const TileBounds& t, float fx, float fy, const cv::Mat& mask) {
  // TIAToolbox scales float32 coordinates (numpy keeps the array's float32), then truncates.
  const auto clip = [](float v, int hi) { return static_cast<int>(std::clamp(v, 0.0f, static_cast<float>(hi))); };
  return {clip(static_cast<float>(t.x0) * fx, mask.cols), clip(static_cast<float>(t.y0) * fy, mask.rows),
          clip(static_cast<float>(t.x1) * fx, mask.cols), clip(static_cast<float>(t.y1) * fy, mask.rows)};
}

MaskBox extractor_box(const TileBounds& t, double scale, const cv::Mat& mask) {
  // ceil in float64, then int32; the slice mask[y0:y1, x0:x1] clips to the mask.
  const auto end = [&](int32_t v, int hi) {
    return static_cast<int>(std::clamp<double>(std::ceil(v * scale), 0.0, static_cast<double>(hi)));
  };
  return {end(t.x0, mask.cols), end(t.y0, mask.rows), end(t.x1, mask.cols), end(t.y1, mask.rows)};
}

}  // namespace

std::vector<TileBounds> filter_by_mask(const std::vector<TileBounds>& tiles, const cv::Mat& mask, Size slide,
                                       TileRule rule) {
  if (mask.empty() || mask.type() != CV_8UC1) throw std::invalid_argument("tissue mask must be a non-empty 8-bit image");
  const auto fx = static_cast<float>(static_cast<double>(mask.cols) / slide.width);
  const auto fy = static_cast<float>(static_cast<double>(mask.rows) / slide.height);
  const double height_ratio = static_cast<double>(mask.rows) / static_cast<double>(slide.height);
  // An integral image answers "any tissue in this box" in O(1) per tile.
  cv::Mat tissue = mask != 0, integral;
  cv::integral(tissue / 255, integral, CV_32S);
  std::vector<TileBounds> kept;
  for (const TileBounds& t : tiles) {
    const MaskBox b = rule == TileRule::predictor ? predictor_box(t, fx, fy, mask) : extractor_box(t, height_ratio, mask);
    if (b.x1 <= b.x0 || b.y1 <= b.y0) continue;
    const int sum = integral.at<int>(b.y1, b.x1) - integral.at<int>(b.y0, b.x1) - integral.at<int>(b.y1, b.x0) +
                    integral.at<int>(b.y0, b.x0);
    if (sum > 0) kept.push_back(t);
  }
  return kept;
}

}  // namespace wsi
