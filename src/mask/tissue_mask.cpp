// Thumbnail and tissue mask (TIAToolbox slide_thumbnail, OtsuTissueMasker, MorphologicalMasker),
// see include/wsi/mask/tissue_mask.hpp.
#include "wsi/mask/tissue_mask.hpp"

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <cmath>
#include <filesystem>

#include "util/enum_names.hpp"
#include "wsi/slide/region.hpp"

namespace wsi {

namespace {

// "auto" is the name written back: Otsu is what auto means today.
constexpr EnumName<MaskMethod> kMaskMethodNames[] = {{MaskMethod::otsu, "auto"},
                                                      {MaskMethod::morphological, "morphological"},
                                                      {MaskMethod::none, "none"},
                                                      {MaskMethod::otsu, "otsu"}};

}  // namespace

MaskMethod parse_mask_method(const std::string& text) {
  return parse_enum(kMaskMethodNames, text, "unknown tissue mask");
}

std::string to_string(MaskMethod method) { return enum_name(kMaskMethodNames, method); }

Resolution mask_resolution(const SlideProperties& slide) {
  if (slide.objective_power > 0) return {1.25, Units::power};
  return {1.0 / 16.0, Units::baseline};
}

namespace {

// Level pixels per strip when a thumbnail is read in strips (16 MiB of RGBA). Above kMaxRegionPixels (the most one read may ask for, about
// 1 GiB of RGBA) strips are used even where they cannot start on whole level rows (the pixels
// then differ slightly).
constexpr int64_t kStripPixels = int64_t{1} << 22;

}  // namespace

cv::Mat read_thumbnail(const SlideReader& slide, const Resolution& resolution) {
  const SlideProperties& props = slide.properties();
  const Size size = props.size();
  Size output;
  const RegionRead read = region_at_baseline(props, resolution, 0, 0, size.width, size.height, &output);
  if (output.width <= 0 || output.height <= 0)
    throw SlideError(slide.path() + ": the slide is too small for a thumbnail at " + to_string(resolution));
  // INTER_AREA in tiatoolbox_resize (with factor 1 on both axes it is the read itself).
  const bool shrinks = read.scale.x <= 1.0 && read.scale.y <= 1.0 && (read.scale.x < 1.0 || read.scale.y < 1.0) &&
                       output.width <= read.width && output.height <= read.height;
  if (!shrinks || read.width * read.height <= kStripPixels || read.x != 0 || read.y != 0)
    return read_bounds_at_baseline(slide, resolution, 0, 0, size.width, size.height);
  // Strips start on whole level rows when read from the TIFF tiles, or through OpenSlide at a
  // whole downsample; both give the one-piece read's pixels (outside the level: transparent).
  const bool from_tiles = slide.reads_level_tiles(read.level);
  const double downsample = props.levels[read.level].downsample;
  if (!from_tiles && downsample != std::floor(downsample) && read.width * read.height <= kMaxRegionPixels)
    return read_bounds_at_baseline(slide, resolution, 0, 0, size.width, size.height);
  const auto rows = [&](int64_t first, int64_t count) {
    if (from_tiles) return slide.read_level_region(read.level, 0, first, read.width, count);
    return slide.read_region(0, static_cast<int64_t>(first * downsample), read.level, read.width, count);
  };
  const cv::Size out(static_cast<int>(output.width), static_cast<int>(output.height));
  return composite_over_white(
      shrink_in_strips(cv::Size(static_cast<int>(read.width), static_cast<int>(read.height)), out,
                       std::max<int64_t>(1, kStripPixels / read.width), rows));
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
