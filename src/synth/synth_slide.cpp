// Synthetic Aperio-style slides: a seeded layout of elliptical tissue regions on white, written
// as a tiled, pyramidal, JPEG-compressed TIFF with libtiff. Every level is generated on its own
// by evaluating one content function at that level's pixel centres (level-0 coordinates), one
// tile at a time, so memory stays at one tile whatever the slide size.
#include "wsi/synth/synth_slide.hpp"

#include <tiffio.h>

#include <algorithm>
#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <stdexcept>

#include "util/csv.hpp"

namespace wsi {

const std::vector<SynthClass>& synth_classes() {
  // H&E-like mean colours, far apart in RGB; the palest (mucin) is still well below the white
  // background in grey (about 175), so an Otsu threshold separates every class from the glass.
  static const std::vector<SynthClass> classes = {
      {"tumour", {{150, 62, 150}}},       // dense dark purple nuclei
      {"stroma", {{228, 128, 168}}},      // eosin pink
      {"lymphocytes", {{58, 48, 128}}},   // dark blue-violet
      {"mucin", {{176, 166, 208}}},       // pale blue-lilac
  };
  return classes;
}

int SynthLayout::class_at(double x, double y) const {
  for (const auto& r : regions) {
    const double rx = 0.5 * static_cast<double>(r.x1 - r.x0);
    const double ry = 0.5 * static_cast<double>(r.y1 - r.y0);
    if (rx <= 0 || ry <= 0) continue;
    const double dx = (x - 0.5 * static_cast<double>(r.x0 + r.x1)) / rx;
    const double dy = (y - 0.5 * static_cast<double>(r.y0 + r.y1)) / ry;
    if (dx * dx + dy * dy <= 1.0) return r.class_index;
  }
  return -1;
}

namespace {

// ---- random numbers that do not depend on the standard library's distributions ----------------

// Uniform integer in [lo, hi] from one raw 32-bit mt19937 output (multiply-shift).
int64_t uniform_int(std::mt19937& rng, int64_t lo, int64_t hi) {
  if (hi <= lo) return lo;
  const uint64_t span = static_cast<uint64_t>(hi - lo) + 1;
  const uint64_t r = static_cast<uint32_t>(rng());
  if (span > 0xffffffffull) {  // never needed for slide sizes, but stay correct
    const uint64_t r2 = (r << 32) | static_cast<uint32_t>(rng());
    return lo + static_cast<int64_t>(r2 % span);
  }
  return lo + static_cast<int64_t>((r * span) >> 32);
}

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
    // Per column: level-0 integer coordinate for hashing, and lattice cell + fraction per octave.
    int64_t li_min[2];
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
      // Background: near-white glass with slight noise (about 241..250).
      const uint32_t ybg = iy * 0xd8163841u;
      for (int c = 0; c < T; ++c) {
        uint32_t h = ix_[c] * 0x8da6b343u ^ ybg ^ seed_bg_;
        h ^= h >> 16;
        h *= 0x7feb352du;
        h ^= h >> 15;
        uint8_t* p = row + c * 3;
        p[0] = static_cast<uint8_t>(242 + (h & 7));
        p[1] = static_cast<uint8_t>(241 + ((h >> 3) & 7));
        p[2] = static_cast<uint8_t>(243 + ((h >> 6) & 7));
      }
      bool lattice_ready = false;
      for (const SynthRegion* r : active_) {
        const double rx = 0.5 * static_cast<double>(r->x1 - r->x0);
        const double ry = 0.5 * static_cast<double>(r->y1 - r->y0);
        if (rx <= 0 || ry <= 0) continue;
        const double dy = (Y - 0.5 * static_cast<double>(r->y0 + r->y1)) / ry;
        const double q = 1.0 - dy * dy;
        if (q < 0) continue;
        const double half = rx * std::sqrt(q);
        const double cx = 0.5 * static_cast<double>(r->x0 + r->x1);
        // Level pixel c is inside when |X_c - cx| <= half, X_c = (tx + c + 0.5) * d.
        int64_t c0 = static_cast<int64_t>(std::ceil((cx - half) / d_ - 0.5)) - tx;
        int64_t c1 = static_cast<int64_t>(std::floor((cx + half) / d_ - 0.5)) - tx;
        // Guard the rounding at the rim so the pixels agree with class_at exactly.
        while (c0 <= c1 && std::fabs((tx + c0 + 0.5) * d_ - cx) > half) ++c0;
        while (c1 >= c0 && std::fabs((tx + c1 + 0.5) * d_ - cx) > half) --c1;
        c0 = std::max<int64_t>(c0, 0);
        c1 = std::min<int64_t>(c1, T - 1);
        if (c0 > c1) continue;
        if (!lattice_ready) {
          prepare_lattice_row(Y, li_min);
          lattice_ready = true;
        }
        tissue_span(row, static_cast<int>(c0), static_cast<int>(c1), iy, colours_[r->class_index]);
      }
    }
  }

 private:
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

class TiffWriter {
 public:
  TiffWriter(const std::string& path, bool bigtiff) : path_(path) {
    TIFFOpenOptions* options = TIFFOpenOptionsAlloc();
    if (!options) fail("TIFFOpenOptionsAlloc");
    TIFFOpenOptionsSetErrorHandlerExtR(options, capture_error, &messages_);
    TIFFOpenOptionsSetWarningHandlerExtR(options, ignore_warning, nullptr);
    tif_ = TIFFOpenExt(path.c_str(), bigtiff ? "w8" : "w", options);
    TIFFOpenOptionsFree(options);
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

SynthLayout make_synth_layout(const SynthSlideSpec& spec) {
  if (spec.width < 32 || spec.height < 32)
    throw std::invalid_argument("synthetic slide: size " + std::to_string(spec.width) + "x" +
                                std::to_string(spec.height) + " is below 32x32");
  const int64_t W = spec.width, H = spec.height;
  std::mt19937 rng(spec.seed);
  SynthLayout layout;
  layout.width = W;
  layout.height = H;

  const int nclasses = static_cast<int>(synth_classes().size());
  // Region count grows with the area: about one per 3 Mpx, 4..12, +-1 from the seed.
  const double area = static_cast<double>(W) * static_cast<double>(H);
  int n = static_cast<int>(std::clamp<double>(area / 3.0e6, nclasses, 12.0));
  n = std::clamp(n + static_cast<int>(uniform_int(rng, -1, 1)), nclasses, 12);

  // A jittered grid of cells, one region per chosen cell: regions never overlap and always fit.
  const int64_t mx = std::max<int64_t>(2, W * 3 / 100), my = std::max<int64_t>(2, H * 3 / 100);
  const int64_t aw = W - 2 * mx, ah = H - 2 * my;
  int cols = std::max(1, static_cast<int>(std::lround(std::sqrt(n * static_cast<double>(aw) / ah))));
  cols = std::min(cols, n);
  const int rows = (n + cols - 1) / cols;
  std::vector<int> cells(static_cast<size_t>(cols * rows));
  for (size_t i = 0; i < cells.size(); ++i) cells[i] = static_cast<int>(i);
  for (size_t i = cells.size() - 1; i > 0; --i)  // Fisher-Yates with our own uniform_int
    std::swap(cells[i], cells[static_cast<size_t>(uniform_int(rng, 0, static_cast<int64_t>(i)))]);

  // Classes: the first cells take every class once (shuffled), the rest draw at random.
  std::vector<int> classes(static_cast<size_t>(nclasses));
  for (int i = 0; i < nclasses; ++i) classes[i] = i;
  for (int i = nclasses - 1; i > 0; --i) std::swap(classes[i], classes[uniform_int(rng, 0, i)]);

  const bool big = std::min(W, H) >= 3000;
  auto off_grid_lo = [](int64_t v, int64_t size) { return (size >= 32 && v % 16 == 0) ? v + 5 : v; };
  auto off_grid_hi = [](int64_t v, int64_t size) { return (size >= 32 && v % 16 == 0) ? v - 5 : v; };
  for (int k = 0; k < n; ++k) {
    const int cell = cells[k];
    const int col = cell % cols, row = cell / cols;
    const int64_t cx0 = mx + aw * col / cols, cx1 = mx + aw * (col + 1) / cols;
    const int64_t cy0 = my + ah * row / rows, cy1 = my + ah * (row + 1) / rows;
    const int64_t gx = std::max<int64_t>(1, (cx1 - cx0) / 25), gy = std::max<int64_t>(1, (cy1 - cy0) / 25);
    const int64_t fw = (cx1 - cx0) - 2 * gx, fh = (cy1 - cy0) - 2 * gy;  // free space in the cell
    const int64_t min_w = std::min<int64_t>(fw, std::max<int64_t>(big ? 640 : 0, fw * 55 / 100));
    const int64_t min_h = std::min<int64_t>(fh, std::max<int64_t>(big ? 640 : 0, fh * 55 / 100));
    const int64_t rw = uniform_int(rng, min_w, fw), rh = uniform_int(rng, min_h, fh);
    SynthRegion r;
    r.class_index = k < nclasses ? classes[k] : static_cast<int>(uniform_int(rng, 0, nclasses - 1));
    r.x0 = cx0 + gx + uniform_int(rng, 0, fw - rw);
    r.y0 = cy0 + gy + uniform_int(rng, 0, fh - rh);
    r.x1 = r.x0 + rw;
    r.y1 = r.y0 + rh;
    // Off the patch grid: no edge on a multiple of 16 (so none on 224 or 256 either).
    r.x0 = off_grid_lo(r.x0, rw);
    r.y0 = off_grid_lo(r.y0, rh);
    r.x1 = off_grid_hi(r.x1, rw);
    r.y1 = off_grid_hi(r.y1, rh);
    layout.regions.push_back(r);
  }
  return layout;
}

void write_synth_slide(const std::string& path, const SynthSlideSpec& spec, const SynthLayout& layout) {
  auto bad = [&](const std::string& why) { throw std::runtime_error("synthetic slide " + path + ": " + why); };
  if (spec.width < 1 || spec.height < 1) bad("bad size");
  if (spec.width > 0x7fffffff || spec.height > 0x7fffffff) bad("size beyond 2^31 pixels");
  if (spec.levels < 1) bad("levels must be >= 1");
  if (spec.tile_size < 16 || spec.tile_size % 16 != 0) bad("tile size must be a positive multiple of 16");
  if (spec.jpeg_quality < 1 || spec.jpeg_quality > 100) bad("JPEG quality must be 1..100");
  if (!(spec.mpp > 0)) bad("mpp must be positive");
  for (const auto& r : layout.regions)
    if (r.class_index < 0 || r.class_index >= static_cast<int>(synth_classes().size())) bad("region with an unknown class");

  const auto sizes = synth_level_sizes(spec);
  double raw = 0;  // YCbCr 4:2:0 size: 1.5 bytes a pixel; JPEG output stays well below it
  for (const auto& s : sizes) raw += 1.5 * static_cast<double>(s.width) * static_cast<double>(s.height);
  const bool bigtiff = raw > 2.0e9;

  TiffWriter writer(path, bigtiff);
  try {
    TIFF* tif = writer.get();
    const int T = spec.tile_size;
    std::vector<uint8_t> buffer(static_cast<size_t>(T) * T * 3);
    const std::string description =
        "Aperio Image Library v12.0.0 \r\n" + std::to_string(spec.width) + "x" + std::to_string(spec.height) +
        " [0,0 " + std::to_string(spec.width) + "x" + std::to_string(spec.height) + "] (" + std::to_string(T) + "x" +
        std::to_string(T) + ") JPEG/RGB Q=" + std::to_string(spec.jpeg_quality) +
        "|AppMag = " + format_number(spec.objective_power) + "|MPP = " + format_number(spec.mpp) +
        "|Filename = synthetic-" + std::to_string(spec.seed);
    for (size_t level = 0; level < sizes.size(); ++level) {
      const auto& s = sizes[level];
      const uint32_t w = static_cast<uint32_t>(s.width), h = static_cast<uint32_t>(s.height);
      if (level > 0) writer.check(TIFFSetField(tif, TIFFTAG_SUBFILETYPE, FILETYPE_REDUCEDIMAGE), "SubfileType");
      writer.check(TIFFSetField(tif, TIFFTAG_IMAGEWIDTH, w), "ImageWidth");
      writer.check(TIFFSetField(tif, TIFFTAG_IMAGELENGTH, h), "ImageLength");
      writer.check(TIFFSetField(tif, TIFFTAG_TILEWIDTH, static_cast<uint32_t>(T)), "TileWidth");
      writer.check(TIFFSetField(tif, TIFFTAG_TILELENGTH, static_cast<uint32_t>(T)), "TileLength");
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
      if (level == 0) writer.check(TIFFSetField(tif, TIFFTAG_IMAGEDESCRIPTION, description.c_str()), "ImageDescription");

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
  } catch (...) {
    std::error_code ec;
    std::filesystem::remove(path, ec);  // no half-written slide left behind
    throw;
  }
}

void write_layout_csv(const std::string& path, const SynthLayout& layout) {
  std::ofstream out(path, std::ios::trunc);
  if (!out) throw std::runtime_error("layout CSV " + path + ": cannot open for writing");
  const auto& classes = synth_classes();
  out << "class,name,x0,y0,x1,y1\n";
  for (const auto& r : layout.regions) {
    const std::string name = r.class_index >= 0 && r.class_index < static_cast<int>(classes.size())
                                 ? classes[r.class_index].name
                                 : std::string("unknown");
    out << r.class_index << ',' << name << ',' << r.x0 << ',' << r.y0 << ',' << r.x1 << ',' << r.y1 << '\n';
  }
  out.flush();
  if (!out) throw std::runtime_error("layout CSV " + path + ": write failed");
}

SynthLayout read_layout_csv(const std::string& path, int64_t width, int64_t height) {
  CsvReader csv(path);
  SynthLayout layout;
  layout.width = width;
  layout.height = height;
  const auto& classes = synth_classes();
  std::vector<std::string> fields;
  if (!csv.next(fields)) throw std::invalid_argument(path + ": empty layout CSV");
  if (fields != std::vector<std::string>{"class", "name", "x0", "y0", "x1", "y1"})
    csv.fail("expected the header class,name,x0,y0,x1,y1");
  const auto to_int = [&csv](const std::string& text, const char* what) -> int64_t {
    size_t used = 0;
    try {
      const int64_t v = std::stoll(text, &used);
      if (used == text.size()) return v;
    } catch (const std::exception&) {
    }
    csv.fail(std::string("bad ") + what + " '" + text + "'");
  };
  while (csv.next(fields)) {
    if (fields.size() != 6) csv.fail("expected 6 fields");
    SynthRegion r;
    const int64_t cls = to_int(fields[0], "class");
    if (cls < 0 || cls >= static_cast<int64_t>(classes.size())) csv.fail("class " + fields[0] + " out of range");
    r.class_index = static_cast<int>(cls);
    if (fields[1] != classes[r.class_index].name)
      csv.fail("class " + fields[0] + " is '" + classes[r.class_index].name + "', not '" + fields[1] + "'");
    r.x0 = to_int(fields[2], "x0");
    r.y0 = to_int(fields[3], "y0");
    r.x1 = to_int(fields[4], "x1");
    r.y1 = to_int(fields[5], "y1");
    if (r.x1 <= r.x0 || r.y1 <= r.y0) csv.fail("empty box");
    layout.regions.push_back(r);
  }
  return layout;
}

}  // namespace wsi
