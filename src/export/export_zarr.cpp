// The Zarr store of `export --format tiatoolbox-zarr`, see wsi/export/tiatoolbox_export.hpp.
#include <algorithm>
#include <filesystem>
#include <set>

#include "util/exclusive_file.hpp"
#include "util/file_name.hpp"
#include "util/zarr_v2.hpp"
#include "wsi/export/tiatoolbox_export.hpp"

namespace wsi {

namespace {

// The argmax of each row, in the smallest unsigned type that holds the largest class index.
template <typename Index>
std::vector<Index> argmax_rows(const std::vector<float>& probabilities, int64_t rows, int64_t classes) {
  std::vector<Index> best(static_cast<size_t>(rows));
  for (int64_t r = 0; r < rows; ++r) {
    const float* p = probabilities.data() + r * classes;
    best[static_cast<size_t>(r)] = static_cast<Index>(std::max_element(p, p + classes) - p);
  }
  return best;
}

}  // namespace

std::vector<std::string> tiatoolbox_stems(const std::vector<SlideRow>& slides) {
  std::vector<std::string> stems;
  std::set<std::string> used;
  for (const SlideRow& slide : slides) {
    const std::string stem = sanitise_file_name(std::filesystem::path(slide.path).stem().string());
    std::string name = stem;
    for (int n = 2; used.count(name); ++n) name = stem + "_" + std::to_string(n);
    used.insert(name);
    stems.push_back(name);
  }
  return stems;
}

void write_tiatoolbox_zarr(const std::string& target, const SlideTileRows& rows) {
  const auto n = static_cast<int64_t>(rows.tiles.size());
  std::vector<int64_t> coordinates;
  coordinates.reserve(rows.tiles.size() * 4);
  for (const TileBounds& t : rows.tiles) coordinates.insert(coordinates.end(), {t.x0, t.y0, t.x1, t.y1});
  std::vector<ZarrArray> arrays{{"coordinates", "<i8", {n, 4}, coordinates.data()}};
  std::vector<uint8_t> predictions8;
  std::vector<uint16_t> predictions16;
  std::vector<uint32_t> predictions32;
  if (rows.classes > 0) {
    if (rows.classes <= 256) {
      predictions8 = argmax_rows<uint8_t>(rows.probabilities, n, rows.classes);
      arrays.push_back({"predictions", "|u1", {n}, predictions8.data()});
    } else if (rows.classes <= 65536) {
      predictions16 = argmax_rows<uint16_t>(rows.probabilities, n, rows.classes);
      arrays.push_back({"predictions", "<u2", {n}, predictions16.data()});
    } else {
      predictions32 = argmax_rows<uint32_t>(rows.probabilities, n, rows.classes);
      arrays.push_back({"predictions", "<u4", {n}, predictions32.data()});
    }
    arrays.push_back({"probabilities", "<f4", {n, rows.classes}, rows.probabilities.data()});
  }
  if (rows.feature_size > 0) arrays.push_back({"features", "<f4", {n, rows.feature_size}, rows.features.data()});
  AtomicFolder store(target);
  write_zarr_group(store.path(), arrays);
  store.commit();
}

}  // namespace wsi
