// TIAToolbox's read_bounds, see include/wsi/slide/region.hpp.
#include "wsi/slide/region.hpp"

#include <opencv2/imgproc.hpp>

namespace wsi {

void pad_outside_level(cv::Mat& region, const RegionRead& read, const Level& level, uint8_t pad) {
  // Columns and rows of the region that fall outside [0, level size) at the read level.
  const int64_t left = std::clamp<int64_t>(-read.level_x, 0, region.cols);
  const int64_t top = std::clamp<int64_t>(-read.level_y, 0, region.rows);
  const int64_t right = std::clamp<int64_t>(level.width - read.level_x, left, region.cols);
  const int64_t bottom = std::clamp<int64_t>(level.height - read.level_y, top, region.rows);
  if (left == 0 && top == 0 && right == region.cols && bottom == region.rows) return;
  cv::Mat inside = region(cv::Range(static_cast<int>(top), static_cast<int>(bottom)),
                          cv::Range(static_cast<int>(left), static_cast<int>(right))).clone();
  region.setTo(cv::Scalar::all(pad));
  inside.copyTo(region(cv::Range(static_cast<int>(top), static_cast<int>(bottom)),
                       cv::Range(static_cast<int>(left), static_cast<int>(right))));
}

cv::Mat tiatoolbox_resize(const cv::Mat& image, cv::Size output, Scale2 factor) {
  if (factor.x == 1.0 && factor.y == 1.0) return image;
  const int interpolation = (factor.x > 1.0 || factor.y > 1.0) ? cv::INTER_CUBIC : cv::INTER_AREA;
  cv::Mat resized;
  cv::resize(image, resized, output, 0, 0, interpolation);
  return resized;
}

cv::Mat composite_over_white(const cv::Mat& rgba) {
  // PIL ImagingAlphaComposite with an opaque white destination (7 bits of extra precision).
  constexpr uint32_t kBits = 7;
  const auto div255 = [](uint32_t a) { return ((a >> 8) + a) >> 8; };
  cv::Mat rgb(rgba.rows, rgba.cols, CV_8UC3);
  for (int y = 0; y < rgba.rows; ++y) {
    const uint8_t* in = rgba.ptr<uint8_t>(y);
    uint8_t* out = rgb.ptr<uint8_t>(y);
    for (int x = 0; x < rgba.cols; ++x, in += 4, out += 3) {
      const uint32_t a = in[3];
      if (a == 255) {
        out[0] = in[0], out[1] = in[1], out[2] = in[2];
        continue;
      }
      if (a == 0) {
        out[0] = out[1] = out[2] = 255;
        continue;
      }
      const uint32_t outa255 = a * 255 + 255 * (255 - a);
      const uint32_t coef1 = a * 255 * 255 * (1u << kBits) / outa255;
      const uint32_t coef2 = 255 * (1u << kBits) - coef1;
      for (int c = 0; c < 3; ++c)
        out[c] = static_cast<uint8_t>(div255(in[c] * coef1 + 255 * coef2 + (0x80u << kBits)) >> kBits);
    }
  }
  return rgb;
}

namespace {

cv::Mat read_padded(const SlideReader& slide, const RegionRead& read, uint8_t pad) {
  cv::Mat region = slide.read_region(read.x, read.y, read.level, read.width, read.height);
  pad_outside_level(region, read, slide.properties().levels[read.level], pad);
  return region;
}

}  // namespace

cv::Mat read_bounds_at_resolution(const SlideReader& slide, const Resolution& resolution, int64_t x0, int64_t y0,
                                  int64_t x1, int64_t y1, uint8_t pad) {
  const RegionRead read = region_at_resolution(slide.properties(), resolution, x0, y0, x1, y1);
  cv::Mat region = slide.read_region(read.x, read.y, read.level, read.width, read.height);
  const cv::Size output(static_cast<int>(x1 - x0), static_cast<int>(y1 - y0));
  return finish_read_at_resolution(region, read, slide.properties(), output, pad);
}

cv::Mat finish_read_at_resolution(cv::Mat& region, const RegionRead& read, const SlideProperties& slide,
                                  cv::Size output, uint8_t pad) {
  pad_outside_level(region, read, slide.levels[read.level], pad);
  const Scale2 factor{static_cast<double>(region.cols) / output.width, static_cast<double>(region.rows) / output.height};
  return composite_over_white(tiatoolbox_resize(region, output, factor));
}

cv::Mat read_bounds_at_baseline(const SlideReader& slide, const Resolution& resolution, int64_t x0, int64_t y0,
                                int64_t x1, int64_t y1) {
  Size output;
  const RegionRead read = region_at_baseline(slide.properties(), resolution, x0, y0, x1, y1, &output);
  const cv::Mat region = read_padded(slide, read, 0);
  const cv::Size size(static_cast<int>(output.width), static_cast<int>(output.height));
  return composite_over_white(tiatoolbox_resize(region, size, read.scale));
}

}  // namespace wsi
