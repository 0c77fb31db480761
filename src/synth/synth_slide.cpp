// Synthetic Aperio-style slides: a layout of elliptical tissue regions (synth_layout.cpp) on
// white, written as a tiled, pyramidal, JPEG-compressed TIFF with libtiff. Every level is generated on its own
// by evaluating one content function at that level's pixel centres (level-0 coordinates), one
// tile at a time, so memory stays at one tile whatever the slide size.
#include "wsi/synth/synth_slide.hpp"

#include <tiffio.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <stdexcept>

#include "util/exclusive_file.hpp"

namespace wsi {

namespace {

// ---- content: cheap integer hashing, value noise, no trigonometry ----------------------------

inline uint32_t hash3(uint32_t x, uint32_t y, uint32_t s) {
  uint32_t h = x * 0x8da6b343u ^ y * 0xd8163841u ^ s;
  h ^= h >> 16;
  h *= 0x7feb352du;
  h ^= h >> 15;
  h *= 0x846ca68bu;
  h ^= h >> 16;
  return h;
}

inline uint32_t mix_seed(uint32_t seed, uint32_t salt) { return hash3(seed, salt, 0x9e3779b9u); }

// Lattice value in [-1, 1).
inline float lattice(uint32_t i, uint32_t j, uint32_t s) {
  return static_cast<float>(hash3(i, j, s) >> 8) * (2.0f / 16777216.0f) - 1.0f;
}

inline uint8_t clamp_u8(int v) { return static_cast<uint8_t>(v < 0 ? 0 : (v > 255 ? 255 : v)); }

// Value-noise octaves: lattice spacing in level-0 pixels and amplitude in grey levels.
struct Octave {
  double spacing;
  float amplitude;
  uint32_t salt;
};
constexpr Octave kOctaves[2] = {{112.0, 14.0f, 0x1234567u}, {26.0, 9.0f, 0x7654321u}};
constexpr float kPixelNoise = 6.0f;  // per-pixel noise amplitude in tissue (grey levels)

// The pixel generator of one level: fills tiles, tile by tile.
class TileRenderer {
 public:
  TileRenderer(const SynthLayout& layout, uint32_t seed, int64_t downsample, int tile)
      : layout_(layout), d_(static_cast<double>(downsample)), tile_(tile) {
    seed_bg_ = mix_seed(seed, 1);
    seed_px_ = mix_seed(seed, 2);
    for (int o = 0; o < 2; ++o) seed_oct_[o] = mix_seed(seed, 10 + o) ^ kOctaves[o].salt;
    ix_.resize(tile);
    for (int o = 0; o < 2; ++o) {
      idx_[o].resize(tile);
      fx_[o].resize(tile);
    }
    for (const auto& c : synth_classes()) colours_.push_back(c.rgb);
  }

  // Fills `out` (tile x tile x 3, row-major RGB) for the tile whose top-left level pixel is (tx, ty).
  void render(int64_t tx, int64_t ty, uint8_t* out) {
    const int T = tile_;
    int64_t li_min[2];
    prepare_columns(tx, li_min);
    // Regions whose vertical extent meets this tile.
    const double tile_y0 = ty * d_, tile_y1 = (ty + T) * d_;
    const double tile_x0 = tx * d_, tile_x1 = (tx + T) * d_;
    active_.clear();
    for (const auto& r : layout_.regions) {
      if (r.y1 < tile_y0 || r.y0 > tile_y1 || r.x1 < tile_x0 || r.x0 > tile_x1) continue;
      active_.push_back(&r);
    }
    for (int rr = 0; rr < T; ++rr) {
      uint8_t* row = out + static_cast<size_t>(rr) * T * 3;
      const double Y = (ty + rr + 0.5) * d_;
      const uint32_t iy = static_cast<uint32_t>(static_cast<int64_t>(std::floor(Y)));
      background_row(row, iy);
      bool lattice_ready = false;
      for (const SynthRegion* r : active_) {
        int64_t c0 = 0, c1 = -1;
        if (!span_in_row(*r, Y, tx, c0, c1)) continue;
        if (!lattice_ready) {
          prepare_lattice_row(Y, li_min);
          lattice_ready = true;
        }
        tissue_span(row, static_cast<int>(c0), static_cast<int>(c1), iy, colours_[r->class_index]);
      }
    }
  }

 private:
  // Per column: level-0 integer coordinate for hashing, and lattice cell + fraction per octave.
  void prepare_columns(int64_t tx, int64_t* li_min) {
    const int T = tile_;
    for (int o = 0; o < 2; ++o) {
      const double S = kOctaves[o].spacing;
      li_min[o] = static_cast<int64_t>(std::floor((tx + 0.5) * d_ / S));
      int64_t li_max = li_min[o];
      for (int c = 0; c < T; ++c) {
        const double X = (tx + c + 0.5) * d_ / S;
        const double fl = std::floor(X);
        const int64_t li = static_cast<int64_t>(fl);
        idx_[o][c] = static_cast<int>(li - li_min[o]);
        fx_[o][c] = static_cast<float>(X - fl);
        li_max = li;
      }
      ncols_[o] = static_cast<int>(li_max - li_min[o]) + 2;
      colv_[o].resize(ncols_[o]);
      dcol_[o].resize(ncols_[o]);
    }
    for (int c = 0; c < T; ++c) ix_[c] = static_cast<uint32_t>(static_cast<int64_t>(std::floor((tx + c + 0.5) * d_)));
  }

  // Background: near-white glass with slight noise (about 241..250).
  void background_row(uint8_t* row, uint32_t iy) const {
    const uint32_t ybg = iy * 0xd8163841u;
    for (int c = 0; c < tile_; ++c) {
      uint32_t h = ix_[c] * 0x8da6b343u ^ ybg ^ seed_bg_;
      h ^= h >> 16;
      h *= 0x7feb352du;
      h ^= h >> 15;
      uint8_t* p = row + c * 3;
      p[0] = static_cast<uint8_t>(242 + (h & 7));
      p[1] = static_cast<uint8_t>(241 + ((h >> 3) & 7));
      p[2] = static_cast<uint8_t>(243 + ((h >> 6) & 7));
    }
  }

  // The columns [c0, c1] of the tile's row at level-0 height Y inside region r; false: none.
  bool span_in_row(const SynthRegion& r, double Y, int64_t tx, int64_t& c0, int64_t& c1) const {
    const double rx = 0.5 * static_cast<double>(r.x1 - r.x0);
    const double ry = 0.5 * static_cast<double>(r.y1 - r.y0);
    if (rx <= 0 || ry <= 0) return false;
    const double dy = (Y - 0.5 * static_cast<double>(r.y0 + r.y1)) / ry;
    const double q = 1.0 - dy * dy;
    if (q < 0) return false;
    const double half = rx * std::sqrt(q);
    const double cx = 0.5 * static_cast<double>(r.x0 + r.x1);
    // Level pixel c is inside when |X_c - cx| <= half, X_c = (tx + c + 0.5) * d.
    c0 = static_cast<int64_t>(std::ceil((cx - half) / d_ - 0.5)) - tx;
    c1 = static_cast<int64_t>(std::floor((cx + half) / d_ - 0.5)) - tx;
    // Guard the rounding at the rim so the pixels agree with class_at exactly.
    while (c0 <= c1 && std::fabs((tx + c0 + 0.5) * d_ - cx) > half) ++c0;
    while (c1 >= c0 && std::fabs((tx + c1 + 0.5) * d_ - cx) > half) --c1;
    c0 = std::max<int64_t>(c0, 0);
    c1 = std::min<int64_t>(c1, tile_ - 1);
    return c0 <= c1;
  }

  void prepare_lattice_row(double Y, const int64_t* li_min) {
    for (int o = 0; o < 2; ++o) {
      const double YS = Y / kOctaves[o].spacing;
      const double fl = std::floor(YS);
      const uint32_t j = static_cast<uint32_t>(static_cast<int64_t>(fl));
      const float fy = static_cast<float>(YS - fl);
      for (int i = 0; i < ncols_[o]; ++i) {
        const uint32_t li = static_cast<uint32_t>(li_min[o] + i);
        const float a = lattice(li, j, seed_oct_[o]);
        const float b = lattice(li, j + 1, seed_oct_[o]);
        colv_[o][i] = kOctaves[o].amplitude * (a + (b - a) * fy);
      }
      for (int i = 0; i + 1 < ncols_[o]; ++i) dcol_[o][i] = colv_[o][i + 1] - colv_[o][i];
      dcol_[o][ncols_[o] - 1] = 0;
    }
  }

  void tissue_span(uint8_t* row, int c0, int c1, uint32_t iy, const std::array<uint8_t, 3>& rgb) {
    const float* cv0 = colv_[0].data();
    const float* dc0 = dcol_[0].data();
    const float* cv1 = colv_[1].data();
    const float* dc1 = dcol_[1].data();
    const int* i0 = idx_[0].data();
    const int* i1 = idx_[1].data();
    const float* f0 = fx_[0].data();
    const float* f1 = fx_[1].data();
    const uint32_t yh = iy * 0xd8163841u;
    const float base_r = rgb[0], base_g = rgb[1], base_b = rgb[2];
    for (int c = c0; c <= c1; ++c) {
      uint32_t h = ix_[c] * 0x8da6b343u ^ yh ^ seed_px_;
      h ^= h >> 16;
      h *= 0x7feb352du;
      h ^= h >> 15;
      h *= 0x846ca68bu;
      h ^= h >> 16;
      const float noise = static_cast<float>(static_cast<int>(h & 0xff) - 128) * (kPixelNoise / 128.0f);
      const float m = cv0[i0[c]] + dc0[i0[c]] * f0[c] + cv1[i1[c]] + dc1[i1[c]] * f1[c] + noise;
      // A little independent chroma noise per channel, +-2.
      const int nr = static_cast<int>((h >> 8) & 3) - 2 + ((h >> 10) & 1);
      const int nb = static_cast<int>((h >> 12) & 3) - 2 + ((h >> 14) & 1);
      uint8_t* p = row + c * 3;
      p[0] = clamp_u8(static_cast<int>(base_r + m + 0.5f) + nr);
      p[1] = clamp_u8(static_cast<int>(base_g + m + 0.5f));
      p[2] = clamp_u8(static_cast<int>(base_b + m + 0.5f) + nb);
    }
  }

  const SynthLayout& layout_;
  double d_;
  int tile_;
  uint32_t seed_bg_ = 0, seed_px_ = 0, seed_oct_[2] = {0, 0};
  std::vector<uint32_t> ix_;
  std::vector<int> idx_[2];
  std::vector<float> fx_[2];
  std::vector<float> colv_[2], dcol_[2];
  int ncols_[2] = {0, 0};
  std::vector<const SynthRegion*> active_;
  std::vector<std::array<uint8_t, 3>> colours_;
};

// ---- libtiff with per-handle error capture ---------------------------------------------------

struct TiffMessages {
  std::string error;
};

int capture_error(TIFF*, void* user, const char* module, const char* fmt, va_list ap) {
  auto* messages = static_cast<TiffMessages*>(user);
  char buffer[1024];
  std::vsnprintf(buffer, sizeof buffer, fmt, ap);
  std::string text = module && *module ? std::string(module) + ": " + buffer : std::string(buffer);
  if (!messages->error.empty()) messages->error += "; ";
  messages->error += text;
  return 1;  // handled: do not print through the global handler
}

int ignore_warning(TIFF*, void*, const char*, const char*, va_list) { return 1; }

std::string format_number(double v) {
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%.10g", v);
  return buffer;
}

// Writes through a copy of the partial file's descriptor (TIFFClose closes the copy): libtiff
// never opens a path.
class TiffWriter {
 public:
  TiffWriter(const AtomicOutput& output, bool bigtiff) : path_(output.target()) {
    TIFFOpenOptions* options = TIFFOpenOptionsAlloc();
    if (!options) fail("TIFFOpenOptionsAlloc");
    TIFFOpenOptionsSetErrorHandlerExtR(options, capture_error, &messages_);
    TIFFOpenOptionsSetWarningHandlerExtR(options, ignore_warning, nullptr);
    const int fd = ::dup(output.fd());
    if (fd >= 0) tif_ = TIFFFdOpenExt(fd, output.path().c_str(), bigtiff ? "w8" : "w", options);
    TIFFOpenOptionsFree(options);
    if (fd >= 0 && !tif_) ::close(fd);
    if (!tif_) fail("cannot open for writing");
  }
  ~TiffWriter() {
    if (tif_) TIFFClose(tif_);
  }
  TiffWriter(const TiffWriter&) = delete;
  TiffWriter& operator=(const TiffWriter&) = delete;

  TIFF* get() { return tif_; }
  void check(int ok, const char* what) {
    if (!ok) fail(what);
  }
  [[noreturn]] void fail(const std::string& what) {
    std::string message = "synthetic slide " + path_ + ": " + what;
    if (!messages_.error.empty()) message += ": " + messages_.error;
    throw std::runtime_error(message);
  }
  void close() {
    TIFF* t = tif_;
    tif_ = nullptr;
    TIFFClose(t);  // flushes; errors land in messages_
    if (!messages_.error.empty()) fail("close");
  }

 private:
  std::string path_;
  TiffMessages messages_;
  TIFF* tif_ = nullptr;
};

}  // namespace

std::vector<SynthLevelSize> synth_level_sizes(const SynthSlideSpec& spec) {
  std::vector<SynthLevelSize> sizes;
  int64_t w = spec.width, h = spec.height, d = 1;
  for (int level = 0; level < spec.levels; ++level) {
    sizes.push_back({w, h, d});
    w = (w + 1) / 2;
    h = (h + 1) / 2;
    d *= 2;
  }
  return sizes;
}

namespace {

void check_spec(const std::string& path, const SynthSlideSpec& spec, const SynthLayout& layout) {
  auto bad = [&](const std::string& why) { throw std::runtime_error("synthetic slide " + path + ": " + why); };
  if (spec.width < 1 || spec.height < 1) bad("bad size");
  if (spec.width > 0x7fffffff || spec.height > 0x7fffffff) bad("size beyond 2^31 pixels");
  if (spec.levels < 1) bad("levels must be >= 1");
  if (spec.tile_size < 16 || spec.tile_size % 16 != 0) bad("tile size must be a positive multiple of 16");
  if (spec.jpeg_quality < 1 || spec.jpeg_quality > 100) bad("JPEG quality must be 1..100");
  if (!(spec.mpp > 0)) bad("mpp must be positive");
  for (const auto& r : layout.regions)
    if (r.class_index < 0 || r.class_index >= static_cast<int>(synth_classes().size())) bad("region with an unknown class");
}

// The tags of one level's directory, as Aperio writes them (the description on level 0).
void set_level_tags(TiffWriter& writer, const SynthSlideSpec& spec, const SynthLevelSize& s, size_t level) {
  TIFF* tif = writer.get();
  const auto T = static_cast<uint32_t>(spec.tile_size);
  if (level > 0) writer.check(TIFFSetField(tif, TIFFTAG_SUBFILETYPE, FILETYPE_REDUCEDIMAGE), "SubfileType");
  writer.check(TIFFSetField(tif, TIFFTAG_IMAGEWIDTH, static_cast<uint32_t>(s.width)), "ImageWidth");
  writer.check(TIFFSetField(tif, TIFFTAG_IMAGELENGTH, static_cast<uint32_t>(s.height)), "ImageLength");
  writer.check(TIFFSetField(tif, TIFFTAG_TILEWIDTH, T), "TileWidth");
  writer.check(TIFFSetField(tif, TIFFTAG_TILELENGTH, T), "TileLength");
  writer.check(TIFFSetField(tif, TIFFTAG_BITSPERSAMPLE, 8), "BitsPerSample");
  writer.check(TIFFSetField(tif, TIFFTAG_SAMPLESPERPIXEL, 3), "SamplesPerPixel");
  writer.check(TIFFSetField(tif, TIFFTAG_PLANARCONFIG, PLANARCONFIG_CONTIG), "PlanarConfig");
  writer.check(TIFFSetField(tif, TIFFTAG_COMPRESSION, COMPRESSION_JPEG), "Compression");
  writer.check(TIFFSetField(tif, TIFFTAG_PHOTOMETRIC, PHOTOMETRIC_YCBCR), "Photometric");
  writer.check(TIFFSetField(tif, TIFFTAG_YCBCRSUBSAMPLING, 2, 2), "YCbCrSubsampling");
  writer.check(TIFFSetField(tif, TIFFTAG_JPEGQUALITY, spec.jpeg_quality), "JPEGQuality");
  writer.check(TIFFSetField(tif, TIFFTAG_JPEGCOLORMODE, JPEGCOLORMODE_RGB), "JPEGColorMode");
  const double pixels_per_cm = 10000.0 / (spec.mpp * static_cast<double>(s.downsample));
  writer.check(TIFFSetField(tif, TIFFTAG_RESOLUTIONUNIT, RESUNIT_CENTIMETER), "ResolutionUnit");
  writer.check(TIFFSetField(tif, TIFFTAG_XRESOLUTION, pixels_per_cm), "XResolution");
  writer.check(TIFFSetField(tif, TIFFTAG_YRESOLUTION, pixels_per_cm), "YResolution");
  writer.check(TIFFSetField(tif, TIFFTAG_SOFTWARE, "wsi-mpi synth"), "Software");
  if (level > 0) return;
  const std::string size = std::to_string(spec.width) + "x" + std::to_string(spec.height);
  const std::string description = "Aperio Image Library v12.0.0 \r\n" + size + " [0,0 " + size + "] (" +
                                  std::to_string(T) + "x" + std::to_string(T) + ") JPEG/RGB Q=" +
                                  std::to_string(spec.jpeg_quality) + "|AppMag = " +
                                  format_number(spec.objective_power) + "|MPP = " + format_number(spec.mpp) +
                                  "|Filename = synthetic-" + std::to_string(spec.seed);
  writer.check(TIFFSetField(tif, TIFFTAG_IMAGEDESCRIPTION, description.c_str()), "ImageDescription");
}

}  // namespace

void write_synth_slide(const std::string& path, const SynthSlideSpec& spec, const SynthLayout& layout) {
  check_spec(path, spec, layout);
  const auto sizes = synth_level_sizes(spec);
  double raw = 0;  // YCbCr 4:2:0 size: 1.5 bytes a pixel; JPEG output stays well below it
  for (const auto& s : sizes) raw += 1.5 * static_cast<double>(s.width) * static_cast<double>(s.height);
  const bool bigtiff = raw > 2.0e9;

  AtomicOutput output(path);  // removed unless committed: no half-written slide is left behind
  TiffWriter writer(output, bigtiff);
  TIFF* tif = writer.get();
  const int T = spec.tile_size;
  std::vector<uint8_t> buffer(static_cast<size_t>(T) * T * 3);
  for (size_t level = 0; level < sizes.size(); ++level) {
    const auto& s = sizes[level];
    const uint32_t w = static_cast<uint32_t>(s.width), h = static_cast<uint32_t>(s.height);
    set_level_tags(writer, spec, s, level);
    TileRenderer renderer(layout, spec.seed, s.downsample, T);
    for (uint32_t ty = 0; ty < h; ty += static_cast<uint32_t>(T)) {
      for (uint32_t tx = 0; tx < w; tx += static_cast<uint32_t>(T)) {
        renderer.render(tx, ty, buffer.data());
        const uint32_t index = TIFFComputeTile(tif, tx, ty, 0, 0);
        if (TIFFWriteEncodedTile(tif, index, buffer.data(), static_cast<tmsize_t>(buffer.size())) < 0)
          writer.fail("writing tile (" + std::to_string(tx) + "," + std::to_string(ty) + ") of level " +
                      std::to_string(level));
      }
    }
    writer.check(TIFFWriteDirectory(tif), "TIFFWriteDirectory");
  }
  writer.close();
  output.commit();
}

}  // namespace wsi
