// The slide stage: opening a whole-slide image and reading regions of it. The only code that
// sees openslide.h is src/slide/openslide_reader.cpp, libtiff src/slide/tiff_tiles.cpp;
// everything else uses SlideReader.
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include <opencv2/core.hpp>

#include "wsi/units.hpp"

namespace wsi {

// Raised for anything wrong with one slide: the message names the slide file and the cause.
class SlideError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Caps against hostile files: the pixels of one tile a slide declares, and of one read.
inline constexpr int64_t kMaxTilePixels = int64_t{1} << 24;    // 4096 x 4096
inline constexpr int64_t kMaxRegionPixels = int64_t{1} << 28;  // 1 GiB of RGBA

struct SlideOpenOptions {
  double mpp_override = 0.0;  // > 0: use this mpp for every slide, whatever the file says
  // Decoded TIFF tiles kept for read_level_region (LRU); 0: every read goes through OpenSlide.
  size_t tile_cache_bytes = size_t{64} << 20;
};

// Thread-safety: read_region may be called from several threads at once (OpenSlide is
// thread-safe for reads); properties are immutable after open.
class SlideReader {
 public:
  virtual ~SlideReader() = default;
  virtual const std::string& path() const = 0;
  virtual const SlideProperties& properties() const = 0;
  // RGBA (not premultiplied, as openslide-python returns it) of a w x h region of `level` whose
  // top-left is (x, y) in level-0 pixels. Outside the slide: transparent (0,0,0,0).
  virtual cv::Mat read_region(int64_t x, int64_t y, int level, int64_t w, int64_t h) const = 0;
  // Whether read_level_region can read `level`: a level of an Aperio (not JPEG 2000) or generic
  // tiled TIFF, read from its TIFF tiles with the pixels OpenSlide gives, without OpenSlide's
  // painting (several times faster); never when opened with tile_cache_bytes 0.
  virtual bool reads_level_tiles(int level) const = 0;
  // RGBA as read_region, of w x h `level` px whose top-left is level px (x, y) (whole level
  // pixels, so also where the level's downsample is fractional); outside the level transparent.
  // Only for levels reads_level_tiles() accepts.
  virtual cv::Mat read_level_region(int level, int64_t x, int64_t y, int64_t w, int64_t h) const = 0;
};

// Opens a slide with OpenSlide and normalises its metadata: mpp from openslide.mpp-x, else from
// the TIFF resolution tags when plausible (0.05 to 20 um/px); objective power from the file, else
// the common power nearest 10 / mpp (as TIAToolbox does); the TIFF tiles of the levels it can read
// directly (see reads_level_tiles). Throws SlideError naming the file.
std::unique_ptr<SlideReader> open_slide(const std::string& path, const SlideOpenOptions& options = {});

// The TIFF-tag fallback, exposed for tests: microns per pixel from tiff.XResolution and
// tiff.ResolutionUnit ("centimeter", "inch"), or 0 when absent or implausible.
double mpp_from_tiff_resolution(const std::string& x_resolution, const std::string& resolution_unit);

}  // namespace wsi
