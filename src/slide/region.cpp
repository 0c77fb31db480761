// TIAToolbox's read_bounds, see include/wsi/slide/region.hpp.
#include "wsi/slide/region.hpp"

#include <opencv2/core/hal/intrin.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <vector>

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

namespace {

// One weight of OpenCV's area resize: output index `dst` takes `alpha` of source index `src`.
struct AreaWeight {
  int dst, src;
  float alpha;
};

// OpenCV 4.6 computeResizeAreaTab: the source cells each output cell overlaps and by how much.
std::vector<AreaWeight> area_weights(int source, int output, double scale) {
  std::vector<AreaWeight> weights;
  for (int d = 0; d < output; ++d) {
    const double f1 = d * scale, f2 = f1 + scale;
    const double cell = std::min(scale, source - f1);
    int s1 = static_cast<int>(std::ceil(f1)), s2 = static_cast<int>(std::floor(f2));
    s2 = std::min(s2, source - 1);
    s1 = std::min(s1, s2);
    if (s1 - f1 > 1e-3) weights.push_back({d, s1 - 1, static_cast<float>((s1 - f1) / cell)});
    for (int s = s1; s < s2; ++s) weights.push_back({d, s, static_cast<float>(1.0 / cell)});
    if (f2 - s2 > 1e-3) weights.push_back({d, s2, static_cast<float>(std::min(std::min(f2 - s2, 1.0), cell) / cell)});
  }
  return weights;
}

// One source row weighed horizontally into `line` (zeroed first), in the order of the weights.
template <int Channels>
void weigh_row(const uint8_t* in, const std::vector<AreaWeight>& weights, float* line, int width) {
  std::fill(line, line + width, 0.0f);
  for (const AreaWeight& w : weights)
    for (int c = 0; c < Channels; ++c)
      line[w.dst * Channels + c] = line[w.dst * Channels + c] + in[w.src * Channels + c] * w.alpha;
}

// RGBA: the four channels as one vector, summed in a register while the output pixel stays the
// same (the weights come grouped by it); the same multiply and add per lane, in the same order,
// with no fused multiply-add, so the bytes stay OpenCV's.
template <>
void weigh_row<4>(const uint8_t* in, const std::vector<AreaWeight>& weights, float* line, int width) {
  std::fill(line, line + width, 0.0f);
  cv::v_float32x4 sum = cv::v_setzero_f32();
  int dst = weights.empty() ? 0 : weights.front().dst;
  for (const AreaWeight& w : weights) {
    if (w.dst != dst) {
      cv::v_store(line + dst * 4, sum);
      sum = cv::v_setzero_f32(), dst = w.dst;
    }
    const cv::v_float32x4 pixel = cv::v_cvt_f32(cv::v_reinterpret_as_s32(cv::v_load_expand_q(in + w.src * 4)));
    sum = sum + pixel * cv::v_setall_f32(w.alpha);
  }
  if (!weights.empty()) cv::v_store(line + dst * 4, sum);
}

// OpenCV's own scale and its test for the integer INTER_AREA path.
double area_scale(int source, int output) { return 1.0 / (static_cast<double>(output) / source); }
bool whole_area_scale(double scale) { return std::abs(scale - cv::saturate_cast<int>(scale)) < DBL_EPSILON; }

}  // namespace

cv::Mat shrink_in_strips(cv::Size source, cv::Size output, int64_t strip_rows,
                         const std::function<cv::Mat(int64_t first, int64_t count)>& rows) {
  CV_Assert(output.width > 0 && output.height > 0 && output.width <= source.width && output.height <= source.height);
  const double scale_x = area_scale(source.width, output.width), scale_y = area_scale(source.height, output.height);
  if (whole_area_scale(scale_x) && whole_area_scale(scale_y)) {
    // Each output row is the mean of `factor` whole source rows: resize strips of whole factors.
    const int factor = cv::saturate_cast<int>(scale_y);
    const int out_rows_per_strip = static_cast<int>(std::max<int64_t>(1, strip_rows / factor));
    cv::Mat result;
    for (int out0 = 0; out0 < output.height; out0 += out_rows_per_strip) {
      const int out1 = std::min(output.height, out0 + out_rows_per_strip);
      cv::Mat shrunk;
      cv::resize(rows(int64_t{out0} * factor, int64_t{out1 - out0} * factor), shrunk,
                 cv::Size(output.width, out1 - out0), 0, 0, cv::INTER_AREA);
      if (result.empty()) result.create(output, shrunk.type());
      shrunk.copyTo(result.rowRange(out0, out1));
    }
    return result;
  }
  // OpenCV's ResizeArea_Invoker for 8-bit images, with float sums: per source row in the order
  // of the row weights, the horizontally weighed row `line`, then `sum` += beta * line.
  const std::vector<AreaWeight> xw = area_weights(source.width, output.width, scale_x);
  const std::vector<AreaWeight> yw = area_weights(source.height, output.height, scale_y);
  cv::Mat strip, result;
  int64_t strip_first = 0;
  int channels = 0, width = 0;
  std::vector<float> line, sum;
  const auto flush = [&](int dy) {
    uint8_t* out = result.ptr<uint8_t>(dy);
    for (int i = 0; i < width; ++i) out[i] = cv::saturate_cast<uint8_t>(sum[i]);
  };
  for (size_t j = 0; j < yw.size(); ++j) {
    const int sy = yw[j].src;
    if (strip.empty() || sy >= strip_first + strip.rows) {
      strip_first = sy;
      strip = rows(sy, std::min<int64_t>(strip_rows, source.height - sy));
      CV_Assert(strip.depth() == CV_8U && strip.cols == source.width);
      if (result.empty()) {
        channels = strip.channels(), width = output.width * channels;
        result.create(output, strip.type());
        line.resize(width), sum.assign(width, 0.0f);
      }
    }
    const uint8_t* in = strip.ptr<uint8_t>(static_cast<int>(sy - strip_first));
    switch (channels) {
      case 4: weigh_row<4>(in, xw, line.data(), width); break;
      case 3: weigh_row<3>(in, xw, line.data(), width); break;
      case 1: weigh_row<1>(in, xw, line.data(), width); break;
      default: CV_Error(cv::Error::StsBadArg, "shrink_in_strips: 1, 3 or 4 channels");
    }
    const float beta = yw[j].alpha;
    if (j > 0 && yw[j].dst != yw[j - 1].dst) {
      flush(yw[j - 1].dst);
      for (int i = 0; i < width; ++i) sum[i] = beta * line[i];
    } else {
      for (int i = 0; i < width; ++i) sum[i] += beta * line[i];
    }
  }
  flush(yw.back().dst);
  return result;
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
