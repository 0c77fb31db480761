// Thumbnail and tissue mask (TIAToolbox slide_thumbnail, OtsuTissueMasker, MorphologicalMasker),
// see include/wsi/mask/tissue_mask.hpp.
#include "wsi/mask/tissue_mask.hpp"

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <cmath>
#include <filesystem>

#include "wsi/slide/region.hpp"

namespace wsi {

MaskMethod parse_mask_method(const std::string& text) {
  if (text == "auto" || text == "otsu") return MaskMethod::otsu;
  if (text == "morphological") return MaskMethod::morphological;
  if (text == "none") return MaskMethod::none;
  throw std::invalid_argument("unknown tissue mask '" + text + "' (expected auto, morphological or none)");
}

std::string to_string(MaskMethod method) {
  switch (method) {
    case MaskMethod::otsu: return "auto";
    case MaskMethod::morphological: return "morphological";
    case MaskMethod::none: return "none";
  }
  return "?";
}

Resolution mask_resolution(const SlideProperties& slide) {
  if (slide.objective_power > 0) return {1.25, Units::power};
  return {1.0 / 16.0, Units::baseline};
}

namespace {

// Pixels above which a whole-level read is replaced by strips (about 1 GiB of RGBA).
constexpr int64_t kMaxRegionPixels = int64_t{1} << 28;

// A huge single-level slide: read full-width strips and shrink each with INTER_AREA into its
// share of the output rows. Equal to the one-piece read where strip edges fall on whole output
// rows; TIAToolbox itself would need the whole level in memory here.
cv::Mat read_thumbnail_in_strips(const SlideReader& slide, const RegionRead& read, Size output) {
  const Level& level = slide.properties().levels[read.level];
  cv::Mat thumbnail(static_cast<int>(output.height), static_cast<int>(output.width), CV_8UC3);
  const int64_t rows_per_strip = std::max<int64_t>(1, kMaxRegionPixels / std::max<int64_t>(1, read.width) / 4);
  const double rows_per_output_row = static_cast<double>(read.height) / output.height;
  const int64_t out_rows_per_strip = std::max<int64_t>(1, static_cast<int64_t>(rows_per_strip / rows_per_output_row));
  for (int64_t out0 = 0; out0 < output.height; out0 += out_rows_per_strip) {
    const int64_t out1 = std::min(output.height, out0 + out_rows_per_strip);
    const auto in0 = static_cast<int64_t>(std::llround(out0 * rows_per_output_row));
    const auto in1 = static_cast<int64_t>(std::llround(out1 * rows_per_output_row));
    const double ds = level.downsample;
    cv::Mat strip = slide.read_region(0, static_cast<int64_t>(in0 * ds), read.level, read.width, in1 - in0);
    cv::Mat shrunk;
    cv::resize(strip, shrunk, cv::Size(static_cast<int>(output.width), static_cast<int>(out1 - out0)), 0, 0,
               cv::INTER_AREA);
    composite_over_white(shrunk).copyTo(thumbnail.rowRange(static_cast<int>(out0), static_cast<int>(out1)));
  }
  return thumbnail;
}

}  // namespace

cv::Mat read_thumbnail(const SlideReader& slide, const Resolution& resolution) {
  const Size size = slide.properties().size();
  Size output;
  const RegionRead read = region_at_baseline(slide.properties(), resolution, 0, 0, size.width, size.height, &output);
  if (output.width <= 0 || output.height <= 0)
    throw SlideError(slide.path() + ": the slide is too small for a thumbnail at " + to_string(resolution));
  if (read.width * read.height > kMaxRegionPixels) return read_thumbnail_in_strips(slide, read, output);
  return read_bounds_at_baseline(slide, resolution, 0, 0, size.width, size.height);
}

int otsu_threshold(const cv::Mat& grey) {
  CV_Assert(grey.type() == CV_8UC1 && !grey.empty());
  // scikit-image for integer images: one bin per integer value from min to max.
  double lo = 0, hi = 0;
  cv::minMaxLoc(grey, &lo, &hi);
  const int first = static_cast<int>(lo), last = static_cast<int>(hi);
  if (first == last) return first;
  std::vector<double> counts(last - first + 1, 0.0);
  for (int y = 0; y < grey.rows; ++y) {
    const uint8_t* row = grey.ptr<uint8_t>(y);
    for (int x = 0; x < grey.cols; ++x) counts[row[x] - first] += 1.0;
  }
  const size_t n = counts.size();
  std::vector<double> weight1(n), weight2(n), mean1(n), mean2(n);
  double w = 0, m = 0;
  for (size_t i = 0; i < n; ++i) {
    w += counts[i], m += counts[i] * (first + static_cast<double>(i));
    weight1[i] = w, mean1[i] = m / w;
  }
  w = 0, m = 0;
  for (size_t i = n; i-- > 0;) {
    w += counts[i], m += counts[i] * (first + static_cast<double>(i));
    weight2[i] = w, mean2[i] = m / w;
  }
  size_t best = 0;
  double best_variance = -1;
  for (size_t i = 0; i + 1 < n; ++i) {
    const double d = mean1[i] - mean2[i + 1];
    const double variance = weight1[i] * weight2[i + 1] * d * d;
    if (variance > best_variance) best_variance = variance, best = i;  // first maximum, as argmax
  }
  return first + static_cast<int>(best);
}

namespace {

cv::Mat remove_small_regions_and_dilate(const cv::Mat& mask, double mask_mpp) {
  // TIAToolbox: an ellipse of 32 / mpp px (1 px when the mask resolution has no mpp).
  const int k = mask_mpp > 0 ? static_cast<int>(std::nearbyint(std::max(32.0 / mask_mpp, 1.0))) : 1;
  const cv::Mat kernel = cv::getStructuringElement(cv::MORPH_ELLIPSE, cv::Size(k, k));
  const int min_region_size = cv::countNonZero(kernel);
  cv::Mat labels, stats, centroids;
  const int count = cv::connectedComponentsWithStats(mask, labels, stats, centroids, 8);
  cv::Mat kept = mask.clone();
  std::vector<uint8_t> drop(count, 0);
  for (int i = 1; i < count; ++i) drop[i] = stats.at<int>(i, cv::CC_STAT_AREA) < min_region_size;
  for (int y = 0; y < kept.rows; ++y) {
    uint8_t* row = kept.ptr<uint8_t>(y);
    const int* label = labels.ptr<int>(y);
    for (int x = 0; x < kept.cols; ++x)
      if (drop[label[x]]) row[x] = 0;
  }
  cv::Mat dilated;
  cv::morphologyEx(kept, dilated, cv::MORPH_DILATE, kernel);
  return dilated;
}

// Otsu always splits an image in two, also the noise of an empty slide. A split whose classes
// differ by less than kMinTissueContrast grey levels in mean is glass, not tissue (no real
// tissue is that close to its background, so TIAToolbox's masks of real slides are unchanged).
constexpr double kMinTissueContrast = 10.0;

bool is_empty_glass(const cv::Mat& grey, const cv::Mat& mask) {
  if (cv::countNonZero(mask) == 0 || cv::countNonZero(mask) == static_cast<int>(mask.total())) return false;
  const double tissue = cv::mean(grey, mask)[0];
  const double background = cv::mean(grey, mask == 0)[0];
  return background - tissue < kMinTissueContrast;
}

}  // namespace

cv::Mat tissue_mask(const cv::Mat& rgb, MaskMethod method, double mask_mpp) {
  if (method == MaskMethod::none) return cv::Mat(rgb.rows, rgb.cols, CV_8UC1, cv::Scalar(1));
  cv::Mat grey;
  cv::cvtColor(rgb, grey, cv::COLOR_RGB2GRAY);
  const int threshold = otsu_threshold(grey);
  cv::Mat mask = (grey < threshold) / 255;
  if (is_empty_glass(grey, mask)) return cv::Mat(rgb.rows, rgb.cols, CV_8UC1, cv::Scalar(0));
  if (method == MaskMethod::morphological) mask = remove_small_regions_and_dilate(mask, mask_mpp);
  return mask;
}

cv::Mat load_mask_image(const std::string& path, Size slide) {
  if (!std::filesystem::is_regular_file(path)) throw SlideError(path + ": no such mask file");
  cv::Mat image = cv::imread(path, cv::IMREAD_GRAYSCALE);
  if (image.empty()) throw SlideError(path + ": the mask is not a readable PNG or TIFF image");
  const double slide_aspect = static_cast<double>(slide.width) / slide.height;
  const double mask_aspect = static_cast<double>(image.cols) / image.rows;
  if (std::abs(mask_aspect / slide_aspect - 1.0) > 0.02)
    throw SlideError(path + ": the mask is " + std::to_string(image.cols) + "x" + std::to_string(image.rows) +
                     ", whose aspect ratio differs from the slide's (" + std::to_string(slide.width) + "x" +
                     std::to_string(slide.height) + ") by more than 2 %");
  return (image != 0) / 255;
}

}  // namespace wsi
