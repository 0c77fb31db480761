// Private to src/slide/: the fast path of SlideReader::read_level_region. The pixels OpenSlide
// 3.4.1 gives for a region at an integer position of a level of an Aperio (non-JPEG-2000) or
// generic tiled TIFF, without OpenSlide's cairo painting (about 30 ns per pixel even from its
// tile cache).
//
// Why it is the same: OpenSlide decodes such a tile with libtiff's TIFFRGBAImageGet (ABGR
// turned into ARGB), zeroes what lies past the image, and paints it with CAIRO_OPERATOR_SATURATE
// onto a transparent region; at an integer position that is a copy of the opaque tile, and the
// region is un-premultiplied afterwards (a no-op for alpha 255 and 0). The same libtiff calls
// give the same tiles; tests/unit/batch/test_read_plan.cpp compares every tile with OpenSlide.
//
// Anything else (other vendors, JPEG 2000, missing tiles, levels whose TIFF directory is not
// found by size) is left to OpenSlide.
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include <opencv2/core.hpp>

#include "wsi/slide/slide_reader.hpp"

namespace wsi {

// Decoded tiles shared by the reader threads of one slide (LRU, bounded in bytes), and a pool
// of open TIFF handles (a libtiff handle serves one thread at a time).
class TiffTiles {
 public:
  // nullptr when the slide is not one this reader handles exactly.
  static std::unique_ptr<TiffTiles> open(const std::string& path, const SlideProperties& props, size_t cache_bytes);
  ~TiffTiles();
  // True when `level` can be read here.
  bool has_level(int level) const;
  // RGBA (straight, as SlideReader::read_region) of w x h level px at level px (x, y); outside the
  // level transparent (0, 0, 0, 0). Thread-safe.
  cv::Mat read_level_region(int level, int64_t x, int64_t y, int64_t w, int64_t h) const;

 private:
  struct State;
  explicit TiffTiles(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace wsi
