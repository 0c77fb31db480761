// Tile grid and mask filter, see include/wsi/grid/tile_grid.hpp.
#include "wsi/grid/tile_grid.hpp"

#include <algorithm>
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

std::vector<TileBounds> filter_by_mask(const std::vector<TileBounds>& tiles, const cv::Mat& mask, Size slide) {
  if (mask.empty() || mask.type() != CV_8UC1) throw std::invalid_argument("tissue mask must be a non-empty 8-bit image");
  // TIAToolbox scales float32 coordinates (numpy keeps the array's float32), then truncates.
  const auto fx = static_cast<float>(static_cast<double>(mask.cols) / slide.width);
  const auto fy = static_cast<float>(static_cast<double>(mask.rows) / slide.height);
  // An integral image answers "any tissue in this box" in O(1) per tile.
  cv::Mat tissue = mask != 0, integral;
  cv::integral(tissue / 255, integral, CV_32S);
  const auto clip = [](float v, int hi) { return static_cast<int>(std::clamp(v, 0.0f, static_cast<float>(hi))); };
  std::vector<TileBounds> kept;
  for (const TileBounds& t : tiles) {
    const int x0 = clip(static_cast<float>(t.x0) * fx, mask.cols), x1 = clip(static_cast<float>(t.x1) * fx, mask.cols);
    const int y0 = clip(static_cast<float>(t.y0) * fy, mask.rows), y1 = clip(static_cast<float>(t.y1) * fy, mask.rows);
    if (x1 <= x0 || y1 <= y0) continue;
    const int sum = integral.at<int>(y1, x1) - integral.at<int>(y0, x1) - integral.at<int>(y1, x0) + integral.at<int>(y0, x0);
    if (sum > 0) kept.push_back(t);
  }
  return kept;
}

}  // namespace wsi
