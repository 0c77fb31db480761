// Direct tile reading for Aperio / generic TIFF levels, see src/slide/tiff_tiles.hpp.
#include "slide/tiff_tiles.hpp"

#include <tiffio.h>

#include <cstring>
#include <list>
#include <mutex>
#include <unordered_map>
#include <vector>

namespace wsi {
namespace {

int quiet_handler(TIFF*, void*, const char*, const char*, va_list) { return 1; }

struct TiffCloser {
  void operator()(TIFF* tif) const { TIFFClose(tif); }
};
using TiffHandle = std::unique_ptr<TIFF, TiffCloser>;

struct TiffOptionsFree {
  void operator()(TIFFOpenOptions* options) const { TIFFOpenOptionsFree(options); }
};

TiffHandle open_tiff(const std::string& path) {
  const std::unique_ptr<TIFFOpenOptions, TiffOptionsFree> options(TIFFOpenOptionsAlloc());
  TIFFOpenOptionsSetErrorHandlerExtR(options.get(), quiet_handler, nullptr);
  TIFFOpenOptionsSetWarningHandlerExtR(options.get(), quiet_handler, nullptr);
  return TiffHandle(TIFFOpenExt(path.c_str(), "r", options.get()));
}

struct LevelDir {
  bool ok = false;
  tdir_t dir = 0;
  int64_t width = 0, height = 0, tile_w = 0, tile_h = 0, across = 0, down = 0;
};

using Tile = std::vector<uint32_t>;  // RGBA bytes (libtiff's ABGR words, little-endian)

}  // namespace

struct TiffTiles::State {
  std::string path;
  std::vector<LevelDir> levels;
  std::mutex pool_mutex;
  std::vector<TiffHandle> pool;
  std::mutex cache_mutex;
  size_t cache_capacity = 0, cache_bytes = 0;
  std::list<uint64_t> order;  // most recent first
  std::unordered_map<uint64_t, std::pair<std::shared_ptr<const Tile>, std::list<uint64_t>::iterator>> cache;

  TiffHandle acquire() {
    {
      std::lock_guard<std::mutex> lock(pool_mutex);
      if (!pool.empty()) {
        TiffHandle t = std::move(pool.back());
        pool.pop_back();
        return t;
      }
    }
    TiffHandle t = open_tiff(path);
    if (!t) throw SlideError(path + ": cannot open the TIFF for reading tiles");
    return t;
  }
  void release(TiffHandle t) {
    std::lock_guard<std::mutex> lock(pool_mutex);
    pool.push_back(std::move(t));
  }

  std::shared_ptr<const Tile> tile(int level, int64_t col, int64_t row) {
    const uint64_t key = (uint64_t(level) << 56) | (uint64_t(row) << 28) | uint64_t(col);
    {
      std::lock_guard<std::mutex> lock(cache_mutex);
      auto it = cache.find(key);
      if (it != cache.end()) {
        order.splice(order.begin(), order, it->second.second);
        return it->second.first;
      }
    }
    const LevelDir& l = levels[level];
    auto data = std::make_shared<Tile>(size_t(l.tile_w * l.tile_h));
    TiffHandle handle = acquire();
    TIFF* tif = handle.get();
    bool ok = false;
    char message[1024] = "";
    // As OpenSlide 3.4.1's tiff_read_region does it.
    if (TIFFCurrentDirectory(tif) == l.dir || TIFFSetDirectory(tif, l.dir)) {
      TIFFRGBAImage img;
      if (TIFFRGBAImageOK(tif, message) && TIFFRGBAImageBegin(&img, tif, 1, message)) {
        img.req_orientation = ORIENTATION_TOPLEFT;
        img.col_offset = static_cast<int>(col * l.tile_w);
        img.row_offset = static_cast<int>(row * l.tile_h);
        ok = TIFFRGBAImageGet(&img, data->data(), static_cast<uint32_t>(l.tile_w), static_cast<uint32_t>(l.tile_h)) != 0;
        TIFFRGBAImageEnd(&img);
      }
    }
    release(std::move(handle));
    if (!ok) throw SlideError(path + ": cannot decode tile " + std::to_string(col) + "," + std::to_string(row) +
                              " of level " + std::to_string(level) + (message[0] ? std::string(": ") + message : ""));
    std::lock_guard<std::mutex> lock(cache_mutex);
    if (cache.count(key)) return data;
    order.push_front(key);
    cache.emplace(key, std::make_pair(data, order.begin()));
    cache_bytes += data->size() * 4;
    while (cache_bytes > cache_capacity && order.size() > 1) {
      auto victim = cache.find(order.back());
      cache_bytes -= victim->second.first->size() * 4;
      cache.erase(victim);
      order.pop_back();
    }
    return data;
  }
};

TiffTiles::TiffTiles(std::unique_ptr<State> state) : state_(std::move(state)) {}

TiffTiles::~TiffTiles() = default;

bool TiffTiles::has_level(int level) const {
  return level >= 0 && level < static_cast<int>(state_->levels.size()) && state_->levels[level].ok;
}

std::unique_ptr<TiffTiles> TiffTiles::open(const std::string& path, const SlideProperties& props,
                                            size_t cache_bytes) {
  if (props.vendor != "aperio" && props.vendor != "generic-tiff") return nullptr;
  const TiffHandle handle = open_tiff(path);
  if (!handle) return nullptr;
  TIFF* tif = handle.get();
  auto state = std::make_unique<State>();
  state->path = path;
  state->cache_capacity = cache_bytes;
  state->levels.resize(props.levels.size());
  std::vector<int> matches(props.levels.size(), 0);
  bool any = false;
  tdir_t dir = 0;
  do {
    if (!TIFFIsTiled(tif)) continue;
    uint32_t w = 0, h = 0, tw = 0, th = 0;
    uint16_t compression = 0, samples = 0, bits = 0, planar = PLANARCONFIG_CONTIG;
    TIFFGetField(tif, TIFFTAG_IMAGEWIDTH, &w);
    TIFFGetField(tif, TIFFTAG_IMAGELENGTH, &h);
    TIFFGetField(tif, TIFFTAG_TILEWIDTH, &tw);
    TIFFGetField(tif, TIFFTAG_TILELENGTH, &th);
    TIFFGetFieldDefaulted(tif, TIFFTAG_COMPRESSION, &compression);
    TIFFGetFieldDefaulted(tif, TIFFTAG_SAMPLESPERPIXEL, &samples);
    TIFFGetFieldDefaulted(tif, TIFFTAG_BITSPERSAMPLE, &bits);
    TIFFGetFieldDefaulted(tif, TIFFTAG_PLANARCONFIG, &planar);
    for (size_t level = 0; level < props.levels.size(); ++level) {
      const Level& l = props.levels[level];
      if (l.width != w || l.height != h) continue;
      ++matches[level];
      char message[1024];
      // JPEG 2000 (Aperio 33003/33005) is decoded by OpenSlide itself; alpha would need care.
      const bool plain = compression != 33003 && compression != 33005 && samples == 3 && bits == 8 &&
                         planar == PLANARCONFIG_CONTIG && tw > 0 && th > 0 && TIFFRGBAImageOK(tif, message);
      // Aperio marks missing tiles with a zero byte count; OpenSlide renders them from another level.
      bool missing = false;
      uint64_t* counts = nullptr;
      if (plain && TIFFGetField(tif, TIFFTAG_TILEBYTECOUNTS, &counts) && counts) {
        const ttile_t n = TIFFNumberOfTiles(tif);
        for (ttile_t i = 0; i < n && !missing; ++i) missing = counts[i] == 0;
      } else {
        missing = true;
      }
      if (plain && !missing) {
        LevelDir& d = state->levels[level];
        d.ok = true, d.dir = dir, d.width = w, d.height = h, d.tile_w = tw, d.tile_h = th;
        d.across = (w + tw - 1) / tw, d.down = (h + th - 1) / th;
        any = true;
      }
    }
  } while (++dir, TIFFReadDirectory(tif));
  for (size_t level = 0; level < matches.size(); ++level)
    if (matches[level] != 1) state->levels[level].ok = false;  // not found, or ambiguous
  if (!any) return nullptr;
  return std::unique_ptr<TiffTiles>(new TiffTiles(std::move(state)));
}

cv::Mat TiffTiles::read_level_region(int level, int64_t x, int64_t y, int64_t w, int64_t h) const {
  const LevelDir& l = state_->levels.at(level);
  cv::Mat region(static_cast<int>(h), static_cast<int>(w), CV_8UC4);
  // Outside the level: transparent, as OpenSlide reads it. Inside, every byte is copied below.
  if (x < 0 || y < 0 || x + w > l.width || y + h > l.height) region.setTo(cv::Scalar::all(0));
  const int64_t x0 = std::max<int64_t>(x, 0), y0 = std::max<int64_t>(y, 0);
  const int64_t x1 = std::min(x + w, l.width), y1 = std::min(y + h, l.height);
  if (x0 >= x1 || y0 >= y1) return region;
  for (int64_t row = y0 / l.tile_h; row * l.tile_h < y1; ++row) {
    for (int64_t col = x0 / l.tile_w; col * l.tile_w < x1; ++col) {
      const auto tile = state_->tile(level, col, row);
      const int64_t tx0 = std::max(x0, col * l.tile_w), tx1 = std::min(x1, (col + 1) * l.tile_w);
      const int64_t ty0 = std::max(y0, row * l.tile_h), ty1 = std::min(y1, (row + 1) * l.tile_h);
      for (int64_t ly = ty0; ly < ty1; ++ly) {
        const uint32_t* src = tile->data() + (ly - row * l.tile_h) * l.tile_w + (tx0 - col * l.tile_w);
        std::memcpy(region.ptr<uint8_t>(static_cast<int>(ly - y)) + (tx0 - x) * 4, src, size_t(tx1 - tx0) * 4);
      }
    }
  }
  return region;
}

}  // namespace wsi
