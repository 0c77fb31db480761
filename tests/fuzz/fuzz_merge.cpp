// libFuzzer target: map merging (merge_predictions, class_fractions) on whatever tile bounds and
// probabilities a cohort file could hold -- bounds anywhere in int32 (outside the slide, inverted,
// empty), probabilities NaN, infinite or negative, slide and canvas sizes of any proportion. The
// map must have the canvas's size and hold only 0 or a class + 1.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "wsi/maps/prediction_map.hpp"

namespace {

// Takes the next `n` bytes as a value (zeros past the end).
class Bytes {
 public:
  Bytes(const uint8_t* data, size_t size) : data_(data), size_(size) {}
  template <class T>
  T next() {
    T value{};
    const size_t n = std::min(sizeof(T), size_ - std::min(at_, size_));
    if (n > 0) std::memcpy(&value, data_ + at_, n);
    at_ += sizeof(T);
    return value;
  }
  bool left() const { return at_ < size_; }

 private:
  const uint8_t* data_;
  size_t size_, at_ = 0;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Bytes in(data, size);
  const int classes = 1 + in.next<uint8_t>() % 16;
  // The canvas is allocated: keep it small. The slide size is only a ratio: any positive value.
  const wsi::Size canvas{1 + in.next<uint16_t>() % 128, 1 + in.next<uint16_t>() % 128};
  const wsi::Size slide{1 + static_cast<int64_t>(in.next<uint32_t>() % 2000000000u),
                        1 + static_cast<int64_t>(in.next<uint32_t>() % 2000000000u)};
  std::vector<wsi::TileBounds> tiles;
  std::vector<float> probabilities;
  while (in.left() && tiles.size() < 256) {
    tiles.push_back({in.next<int32_t>(), in.next<int32_t>(), in.next<int32_t>(), in.next<int32_t>()});
    for (int c = 0; c < classes; ++c) probabilities.push_back(in.next<float>());
  }
  const cv::Mat map = wsi::merge_predictions(tiles, probabilities.data(), classes, slide, canvas);
  if (map.rows != canvas.height || map.cols != canvas.width || map.type() != CV_8UC1) std::abort();
  for (int y = 0; y < map.rows; ++y)
    for (int x = 0; x < map.cols; ++x)
      if (map.at<uint8_t>(y, x) > classes) std::abort();
  const std::vector<float> fractions =
      wsi::class_fractions(probabilities.data(), static_cast<int64_t>(tiles.size()), classes);
  if (fractions.size() != static_cast<size_t>(classes)) std::abort();
  return 0;
}
