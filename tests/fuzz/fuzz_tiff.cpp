// libFuzzer target: the direct TIFF tile reader (src/slide/tiff_tiles.cpp) on any file. The levels
// are what libtiff finds in the file's tiled directories, as OpenSlide would report them for a
// generic TIFF; then a corner and an edge-straddling region of every level it takes are read.
// Tiles it cannot decode must be a SlideError, never a crash or an unbounded allocation.
#include <tiffio.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <string>

#include "fuzz_file_input.hpp"
#include "slide/tiff_tiles.hpp"

namespace {

void quiet(const char*, const char*, va_list) {}

// The tiled directories' sizes, level 0 first (what OpenSlide's generic-tiff backend lists).
wsi::SlideProperties levels_of(const std::string& path) {
  wsi::SlideProperties props;
  props.vendor = "generic-tiff";
  TIFF* tif = TIFFOpen(path.c_str(), "r");
  if (!tif) return props;
  int directories = 0;
  do {
    uint32_t w = 0, h = 0;
    if (TIFFIsTiled(tif) && TIFFGetField(tif, TIFFTAG_IMAGEWIDTH, &w) && TIFFGetField(tif, TIFFTAG_IMAGELENGTH, &h) &&
        w > 0 && h > 0) {
      const double downsample = props.levels.empty() ? 1.0 : double(props.levels[0].width) / w;
      props.levels.push_back({w, h, downsample});
    }
  } while (++directories < 16 && TIFFReadDirectory(tif));
  TIFFClose(tif);
  return props;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  TIFFSetErrorHandler(quiet);
  TIFFSetWarningHandler(quiet);
  const std::string path = fuzz_input_file(data, size, ".tif");
  const wsi::SlideProperties props = levels_of(path);
  try {
    const auto tiles = wsi::TiffTiles::open(path, props, size_t{64} << 20);
    if (!tiles) return 0;
    for (int level = 0; level < static_cast<int>(props.levels.size()); ++level) {
      if (!tiles->has_level(level)) continue;
      const wsi::Level& l = props.levels[level];
      tiles->read_level_region(level, 0, 0, 64, 64);
      tiles->read_level_region(level, l.width - 20, l.height - 20, 48, 48);  // past the edge
    }
  } catch (const wsi::SlideError&) {
  }
  return 0;
}
