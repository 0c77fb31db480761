// Synthetic slide layouts: the tissue classes and their colours, a seeded layout of elliptical
// regions (the ground truth of a synthetic slide), and its CSV file.
#include "wsi/synth/synth_slide.hpp"

#include <algorithm>
#include <cmath>
#include <random>
#include <sstream>
#include <stdexcept>

#include "util/exclusive_file.hpp"

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

}  // namespace

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

void write_layout_csv(const std::string& path, const SynthLayout& layout) {
  std::ostringstream out;
  const auto& classes = synth_classes();
  out << "class,name,x0,y0,x1,y1\n";
  for (const auto& r : layout.regions) {
    const std::string name = r.class_index >= 0 && r.class_index < static_cast<int>(classes.size())
                                 ? classes[r.class_index].name
                                 : std::string("unknown");
    out << r.class_index << ',' << name << ',' << r.x0 << ',' << r.y0 << ',' << r.x1 << ',' << r.y1 << '\n';
  }
  write_file_atomically(path, out.str());
}

}  // namespace wsi
