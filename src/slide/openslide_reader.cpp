// SlideReader over OpenSlide: the only file that includes openslide.h. OpenSlide's errors are
// sticky per handle; they are checked here, after every call, and become SlideError.
#include <openslide.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <stdexcept>

#include "slide/tiff_tiles.hpp"
#include "wsi/slide/slide_reader.hpp"

namespace wsi {
namespace {

struct OpenSlideCloser {
  void operator()(openslide_t* handle) const { openslide_close(handle); }
};
using OpenSlideHandle = std::unique_ptr<openslide_t, OpenSlideCloser>;

double parse_double(const char* text) {
  if (text == nullptr || *text == '\0') return 0.0;
  char* end = nullptr;
  const double value = std::strtod(text, &end);
  return (end != text && std::isfinite(value)) ? value : 0.0;
}

class OpenSlideReader final : public SlideReader {
 public:
  OpenSlideReader(std::string path, OpenSlideHandle handle, const SlideOpenOptions& options)
      : path_(std::move(path)), handle_(std::move(handle)) {
    load_properties(options);
    if (options.tile_cache_bytes > 0) tiles_ = TiffTiles::open(path_, properties_, options.tile_cache_bytes);
  }

  const std::string& path() const override { return path_; }
  const SlideProperties& properties() const override { return properties_; }

  cv::Mat read_region(int64_t x, int64_t y, int level, int64_t w, int64_t h) const override {
    if (w <= 0 || h <= 0 || w > (1 << 15) || h > (1 << 15) || w * h > kMaxRegionPixels)
      throw SlideError(path_ + ": a region of " + std::to_string(w) + "x" + std::to_string(h) +
                       " px cannot be read (at most 32768 px a side and " + std::to_string(kMaxRegionPixels) +
                       " px in all)");
    cv::Mat argb(static_cast<int>(h), static_cast<int>(w), CV_8UC4);
    openslide_read_region(handle_.get(), reinterpret_cast<uint32_t*>(argb.data), x, y, level, w, h);
    check("reading a region");
    return unpremultiply(argb);
  }

  bool reads_level_tiles(int level) const override { return tiles_ && tiles_->has_level(level); }

  cv::Mat read_level_region(int level, int64_t x, int64_t y, int64_t w, int64_t h) const override {
    if (!reads_level_tiles(level))
      throw std::logic_error(path_ + ": level " + std::to_string(level) + " cannot be read from its TIFF tiles");
    if (w <= 0 || h <= 0 || w * h > kMaxRegionPixels)
      throw SlideError(path_ + ": a region of " + std::to_string(w) + "x" + std::to_string(h) + " px cannot be read");
    return tiles_->read_level_region(level, x, y, w, h);
  }

 private:
  void check(const char* activity) const {
    if (const char* error = openslide_get_error(handle_.get()))
      throw SlideError(path_ + ": OpenSlide failed " + activity + ": " + error);
  }

  const char* property(const char* name) const { return openslide_get_property_value(handle_.get(), name); }

  void load_properties(const SlideOpenOptions& options) {
    const int32_t count = openslide_get_level_count(handle_.get());
    check("counting levels");
    for (int32_t level = 0; level < count; ++level) {
      Level info;
      openslide_get_level_dimensions(handle_.get(), level, &info.width, &info.height);
      info.downsample = openslide_get_level_downsample(handle_.get(), level);
      properties_.levels.push_back(info);
      // A tile header of 65536 x 65536 px would make every read allocate 16 GiB.
      const std::string prefix = "openslide.level[" + std::to_string(level) + "].tile-";
      const double tile_w = parse_double(property((prefix + "width").c_str()));
      const double tile_h = parse_double(property((prefix + "height").c_str()));
      if (tile_w * tile_h > static_cast<double>(kMaxTilePixels))
        throw SlideError(path_ + ": level " + std::to_string(level) + " has tiles of " + std::to_string(int64_t(tile_w)) +
                         "x" + std::to_string(int64_t(tile_h)) + " px, more than the " +
                         std::to_string(kMaxTilePixels) + " px per tile accepted");
    }
    check("reading level sizes");
    if (const char* vendor = property(OPENSLIDE_PROPERTY_NAME_VENDOR)) properties_.vendor = vendor;
    properties_.mpp = parse_double(property(OPENSLIDE_PROPERTY_NAME_MPP_X));
    if (properties_.mpp <= 0)
      properties_.mpp = mpp_from_tiff_resolution(property("tiff.XResolution") ? property("tiff.XResolution") : "",
                                                 property("tiff.ResolutionUnit") ? property("tiff.ResolutionUnit") : "");
    if (options.mpp_override > 0) properties_.mpp = options.mpp_override;
    properties_.objective_power = parse_double(property(OPENSLIDE_PROPERTY_NAME_OBJECTIVE_POWER));
    if (properties_.objective_power <= 0 && properties_.mpp > 0)
      properties_.objective_power = common_objective_power(properties_.mpp);
    check("reading properties");
    const Size size = properties_.size();
    if (size.width <= 0 || size.height <= 0) throw SlideError(path_ + ": the slide has no pixels");
  }

  // OpenSlide gives premultiplied ARGB words; openslide-python hands out straight RGBA, and
  // TIAToolbox's numbers come from that. Its _convert.argb2rgba divides with truncation
  // (255 * c / a), so this does too: rounding instead moves half the partly transparent pixels
  // of an edge (a read at a fractional level position) by one grey level.
  static cv::Mat unpremultiply(const cv::Mat& argb) {
    cv::Mat rgba(argb.rows, argb.cols, CV_8UC4);
    const auto* in = reinterpret_cast<const uint32_t*>(argb.data);
    uint8_t* out = rgba.data;
    const size_t n = argb.total();
    for (size_t i = 0; i < n; ++i, out += 4) {
      const uint32_t p = in[i];
      const uint32_t a = p >> 24, r = (p >> 16) & 255, g = (p >> 8) & 255, b = p & 255;
      if (a == 255) {
        out[0] = r, out[1] = g, out[2] = b;
      } else if (a == 0) {
        out[0] = out[1] = out[2] = 0;
      } else {
        out[0] = std::min(255u, r * 255 / a), out[1] = std::min(255u, g * 255 / a), out[2] = std::min(255u, b * 255 / a);
      }
      out[3] = static_cast<uint8_t>(a);
    }
    return rgba;
  }

  std::string path_;
  OpenSlideHandle handle_;
  SlideProperties properties_;
  std::unique_ptr<TiffTiles> tiles_;  // null: no level is read from its tiles
};

}  // namespace

double mpp_from_tiff_resolution(const std::string& x_resolution, const std::string& resolution_unit) {
  const double per_unit = parse_double(x_resolution.c_str());
  if (per_unit <= 0) return 0.0;
  double microns_per_unit = 0;
  if (resolution_unit == "centimeter") microns_per_unit = 1e4;
  else if (resolution_unit == "inch") microns_per_unit = 25400.0;
  else return 0.0;
  const double mpp = microns_per_unit / per_unit;
  return (mpp >= 0.05 && mpp <= 20.0) ? mpp : 0.0;  // 72 dpi and friends are defaults, not scans
}

std::unique_ptr<SlideReader> open_slide(const std::string& path, const SlideOpenOptions& options) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) throw SlideError(path + ": no such slide file");
  if (std::filesystem::file_size(path, ec) == 0) throw SlideError(path + ": the slide file is empty");
  const char* vendor = openslide_detect_vendor(path.c_str());
  OpenSlideHandle handle(openslide_open(path.c_str()));
  if (!handle)
    throw SlideError(path + ": not a slide OpenSlide can read (unknown format, truncated or damaged" +
                     (vendor ? std::string(", detected as ") + vendor : "") + ")");
  if (const char* error = openslide_get_error(handle.get()))
    throw SlideError(path + ": OpenSlide cannot open it: " + error);
  return std::make_unique<OpenSlideReader>(path, std::move(handle), options);
}

}  // namespace wsi
