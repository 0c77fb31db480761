// merge_predictions and class fractions, see include/wsi/maps/prediction_map.hpp.
#include "wsi/maps/prediction_map.hpp"

#include <algorithm>
#include <cmath>

namespace wsi {

namespace {

int argmax(const float* values, int n) { return static_cast<int>(std::max_element(values, values + n) - values); }

}  // namespace

CanvasBox tile_box_on_canvas(const TileBounds& tile, Size slide, Size canvas) {
  const int width = static_cast<int>(canvas.width), height = static_cast<int>(canvas.height);
  const double fx = static_cast<double>(canvas.width) / slide.width;
  const double fy = static_cast<double>(canvas.height) / slide.height;
  const auto place = [](double v, int hi) { return static_cast<int>(std::clamp(std::ceil(v), 0.0, double(hi))); };
  return {place(tile.x0 * fx, width), place(tile.y0 * fy, height), place(tile.x1 * fx, width),
          place(tile.y1 * fy, height)};
}

cv::Mat merge_predictions(const std::vector<TileBounds>& tiles, const float* probabilities, int classes, Size slide,
                          Size canvas) {
  const int width = static_cast<int>(canvas.width), height = static_cast<int>(canvas.height);
  cv::Mat map(height, width, CV_8UC1, cv::Scalar(0));
  // Bands of canvas rows (at most 256, at most 64 MiB of sums unless one row is more) bound the
  // memory for a huge slide. TIAToolbox accumulates in float32 and divides by (count + 1e-8);
  // the argmax of that mean is the argmax of the sum where count > 0, so only the sum and the
  // count are kept.
  constexpr size_t kBandBytes = size_t{64} << 20;
  const size_t row_bytes = std::max<size_t>(1, static_cast<size_t>(width) * classes * sizeof(float));
  const int band_rows = static_cast<int>(std::clamp<size_t>(kBandBytes / row_bytes, 1, 256));
  std::vector<float> sum;
  std::vector<int32_t> count;
  for (int band = 0; band < height; band += band_rows) {
    const int band_end = std::min(height, band + band_rows);
    sum.assign(static_cast<size_t>(band_end - band) * width * classes, 0.0f);
    count.assign(static_cast<size_t>(band_end - band) * width, 0);
    for (size_t t = 0; t < tiles.size(); ++t) {
      const CanvasBox box = tile_box_on_canvas(tiles[t], slide, canvas);
      const int y0 = std::max(box.y0, band);
      const int y1 = std::min(box.y1, band_end);
      if (y0 >= y1) continue;
      const int x0 = box.x0, x1 = box.x1;
      const float* p = probabilities + t * classes;
      for (int y = y0; y < y1; ++y)
        for (int x = x0; x < x1; ++x) {
          const size_t pixel = static_cast<size_t>(y - band) * width + x;
          float* s = &sum[pixel * classes];
          for (int c = 0; c < classes; ++c) s[c] += p[c];
          ++count[pixel];
        }
    }
    for (int y = band; y < band_end; ++y)
      for (int x = 0; x < width; ++x) {
        const size_t pixel = static_cast<size_t>(y - band) * width + x;
        if (count[pixel] > 0) map.at<uint8_t>(y, x) = static_cast<uint8_t>(argmax(&sum[pixel * classes], classes) + 1);
      }
  }
  return map;
}

std::vector<float> class_fractions(const float* probabilities, int64_t tiles, int classes) {
  std::vector<float> fractions(classes, 0.0f);
  if (tiles == 0) return fractions;
  for (int64_t t = 0; t < tiles; ++t) fractions[argmax(probabilities + t * classes, classes)] += 1.0f;
  for (float& f : fractions) f /= static_cast<float>(tiles);
  return fractions;
}

}  // namespace wsi
