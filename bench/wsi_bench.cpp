// wsi_bench: the reading measurement behind bench/run.sh (not a test; the model-only ceiling
// is bench/model_bench.cpp).
//   wsi_bench read --slide S [--batch 8] [--seconds 8] [--readers 1]
//       reading rate per reader thread on the slide's tissue tiles at 0.5 mpp: the batch stage's
//       planned reads (PatchBatchReader) against a naive reader (one openslide_read_region per
//       tile, then the same unpremultiply, pad, resize and composite); checks both give the same bytes.
#include <openslide.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "wsi/batch/patch_batch.hpp"
#include "wsi/grid/tile_grid.hpp"
#include "wsi/mask/tissue_mask.hpp"
#include "bench_args.hpp"
#include "wsi/model/model.hpp"
#include "wsi/slide/region.hpp"
#include "wsi/slide/slide_reader.hpp"

using namespace wsi;
using namespace wsi::bench;

namespace {

// The naive reader: one OpenSlide read per tile, the same post-processing as the batch stage.
class NaiveReader {
 public:
  explicit NaiveReader(const std::string& path, const SlideProperties& props) : props_(props) {
    osr_ = openslide_open(path.c_str());
    if (!osr_) throw std::runtime_error(path + ": cannot open");
  }
  ~NaiveReader() { openslide_close(osr_); }
  void read(const Resolution& res, const TileBounds& t, uint8_t* out) {
    const RegionRead r = region_at_resolution(props_, res, t.x0, t.y0, t.x1, t.y1);
    cv::Mat argb(int(r.height), int(r.width), CV_8UC4);
    openslide_read_region(osr_, reinterpret_cast<uint32_t*>(argb.data), r.x, r.y, r.level, r.width, r.height);
    cv::Mat rgba(argb.rows, argb.cols, CV_8UC4);
    const auto* in = reinterpret_cast<const uint32_t*>(argb.data);
    uint8_t* o = rgba.data;
    for (size_t i = 0, n = argb.total(); i < n; ++i, o += 4) {
      const uint32_t p = in[i], al = p >> 24, rr = (p >> 16) & 255, g = (p >> 8) & 255, b = p & 255;
      if (al == 255) o[0] = rr, o[1] = g, o[2] = b;
      else if (al == 0) o[0] = o[1] = o[2] = 0;
      else o[0] = (rr * 255 + al / 2) / al, o[1] = (g * 255 + al / 2) / al, o[2] = (b * 255 + al / 2) / al;
      o[3] = uint8_t(al);
    }
    const cv::Mat rgb = finish_read_at_resolution(rgba, r, props_, cv::Size(t.x1 - t.x0, t.y1 - t.y0));
    fit_to_input(rgb, 224, 224, out);
  }

 private:
  openslide_t* osr_ = nullptr;
  const SlideProperties& props_;
};

int bench_read(const Options& a) {
  const std::string path = get(a, "slide", "");
  const int batch = std::stoi(get(a, "batch", "8"));
  const int readers = std::stoi(get(a, "readers", "1"));
  const double seconds = std::stod(get(a, "seconds", "8"));
  const Resolution res{std::stod(get(a, "resolution", "0.5")), Units::mpp};
  std::vector<TileBounds> tiles;
  SlideProperties props;
  {
    const auto slide = open_slide(path);
    props = slide->properties();
    const Resolution at = mask_resolution(props);
    const cv::Mat mask = tissue_mask(read_thumbnail(*slide, at), MaskMethod::otsu, 0.0);
    const Size size = size_at_resolution(props, res);
    tiles = filter_by_mask(patch_grid(size, 224, 224), mask, size);
  }
  const size_t patch_bytes = 224 * 224 * 3;
  const BatchGeometry g{res, 224, 224};
  // Planned: the batch stage, one batch after the other (per-thread rate with --readers 1).
  std::vector<uint8_t> planned_first;
  int64_t planned = 0;
  double planned_s = 0;
  {
    const auto slide = open_slide(path);
    const PatchBatchReader reader(readers);
    const auto start = Clock::now();
    for (size_t i = 0; i < tiles.size() && seconds_since(start) < seconds; i += batch) {
      const int n = int(std::min<size_t>(batch, tiles.size() - i));
      PatchBatch b = reader.read(*slide, g, tiles.data() + i, n).get();
      if (i == 0) planned_first.assign(b.pixels.data(), b.pixels.data() + b.pixels.size());
      planned += n;
    }
    planned_s = seconds_since(start);
  }
  int64_t naive = 0;
  double naive_s = 0;
  bool same = true;
  {
    NaiveReader reader(path, props);
    std::vector<uint8_t> out(patch_bytes * batch);
    const auto start = Clock::now();
    for (size_t i = 0; i < tiles.size() && seconds_since(start) < seconds; i += batch) {
      const int n = int(std::min<size_t>(batch, tiles.size() - i));
      for (int j = 0; j < n; ++j) reader.read(res, tiles[i + j], out.data() + patch_bytes * j);
      if (i == 0) same = std::memcmp(out.data(), planned_first.data(), patch_bytes * n) == 0;
      naive += n;
    }
    naive_s = seconds_since(start);
  }
  const auto plans = plan_reads(props, res, tiles.data(), int(std::min<size_t>(tiles.size(), 4096)));
  const double p = planned / planned_s, q = naive / naive_s;
  std::printf("read %zu tissue tiles, batch %d, %d reader(s): planned %.1f tiles/s, naive %.1f tiles/s, "
              "ratio %.2f, same bytes %s\n",
              tiles.size(), batch, readers, p, q, p / q, same ? "yes" : "NO");
  std::printf("read plan (whole slide, no batch limit): %zu tiles in %zu reads\n",
              std::min<size_t>(tiles.size(), 4096), plans.size());
  return same ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    if (argc < 2) throw std::invalid_argument("usage: wsi_bench read [--option value]...");
    const std::string what = argv[1];
    const auto args = parse_options(argc, argv, 2);
    if (what == "read") return bench_read(args);
    throw std::invalid_argument("unknown benchmark " + what);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "wsi_bench: %s\n", e.what());
    return 2;
  }
}
