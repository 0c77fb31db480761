// Patch batches, see include/wsi/batch/patch_batch.hpp.
#include "wsi/batch/patch_batch.hpp"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <exception>
#include <mutex>
#include <thread>

#include <opencv2/imgproc.hpp>

#include "wsi/slide/region.hpp"

namespace wsi {

void fit_to_input(const cv::Mat& rgb, int width, int height, uint8_t* out) {
  cv::Mat target(height, width, CV_8UC3, out);
  if (rgb.cols == width && rgb.rows == height) {
    rgb.copyTo(target);
    return;
  }
  const bool shrink = rgb.cols > width || rgb.rows > height;
  cv::resize(rgb, target, target.size(), 0, 0, shrink ? cv::INTER_AREA : cv::INTER_CUBIC);
}

namespace {

// The fractional and integer parts of a level-0 coordinate at a level, as OpenSlide computes
// the level position (x / downsample, double).
struct LevelPosition {
  double whole = 0, fraction = 0;
};
LevelPosition level_position(int64_t x, double downsample) {
  const double v = static_cast<double>(x) / downsample;
  const double whole = std::floor(v);
  return {whole, v - whole};
}

}  // namespace

std::vector<PlannedRead> plan_reads(const SlideProperties& slide, const Resolution& resolution,
                                    const TileBounds* tiles, int count, const ReadPlanOptions& options) {
  std::vector<PlannedRead> plans;
  LevelPosition anchor;
  for (int i = 0; i < count; ++i) {
    const TileBounds& t = tiles[i];
    const RegionRead r = region_at_resolution(slide, resolution, t.x0, t.y0, t.x1, t.y1);
    if (!plans.empty()) {
      PlannedRead& p = plans.back();
      const double ds = slide.levels[r.level].downsample;
      const LevelPosition pos = level_position(r.x, ds);
      const auto k = static_cast<int64_t>(pos.whole - anchor.whole);
      const bool mergeable =
          r.level == p.region.level && r.y == p.region.y && r.height == p.region.height &&
          pos.fraction == anchor.fraction && k >= 0 && k <= p.region.width + options.max_gap &&
          std::max(p.region.width, k + r.width) <= options.max_region &&
          (options.max_tiles <= 0 || static_cast<int>(p.tiles.size()) < options.max_tiles);
      if (mergeable) {
        p.region.width = std::max(p.region.width, k + r.width);
        p.tiles.push_back(i);
        p.offset_x.push_back(k);
        continue;
      }
    }
    PlannedRead p;
    p.region = r;
    p.tiles.push_back(i);
    p.offset_x.push_back(0);
    anchor = level_position(r.x, slide.levels[r.level].downsample);
    plans.push_back(std::move(p));
  }
  return plans;
}

namespace {

// A plan's region from the TIFF tiles when its level position is an integer and the slide reads
// the level from its tiles; else from OpenSlide.
cv::Mat read_region_for(const SlideReader& slide, const RegionRead& r) {
  if (slide.reads_level_tiles(r.level)) {
    const double ds = slide.properties().levels[r.level].downsample;
    const LevelPosition px = level_position(r.x, ds), py = level_position(r.y, ds);
    if (px.fraction == 0.0 && py.fraction == 0.0)
      return slide.read_level_region(r.level, static_cast<int64_t>(px.whole), static_cast<int64_t>(py.whole),
                                     r.width, r.height);
  }
  return slide.read_region(r.x, r.y, r.level, r.width, r.height);
}

}  // namespace

void read_planned(const SlideReader& slide, const BatchGeometry& g, const TileBounds* tiles, const PlannedRead& plan,
                  uint8_t* out) {
  const size_t patch_bytes = static_cast<size_t>(g.input_width) * g.input_height * 3;
  const SlideProperties& props = slide.properties();
  const RegionRead& big = plan.region;
  cv::Mat region = read_region_for(slide, big);
  const Level& level = props.levels[big.level];
  for (size_t j = 0; j < plan.tiles.size(); ++j) {
    const int i = plan.tiles[j];
    const TileBounds& t = tiles[i];
    const RegionRead r = region_at_resolution(props, g.resolution, t.x0, t.y0, t.x1, t.y1);
    const cv::Rect cut(static_cast<int>(plan.offset_x[j]), 0, static_cast<int>(r.width), static_cast<int>(r.height));
    // Padding writes into the region: a tile reaching outside the level gets a copy of its own.
    const bool inside = r.level_x >= 0 && r.level_y >= 0 && r.level_x + r.width <= level.width &&
                        r.level_y + r.height <= level.height;
    cv::Mat tile = inside || plan.tiles.size() == 1 ? region(cut) : region(cut).clone();
    const cv::Mat rgb = finish_read_at_resolution(tile, r, props, cv::Size(t.x1 - t.x0, t.y1 - t.y0), g.pad);
    fit_to_input(rgb, g.input_width, g.input_height, out + patch_bytes * i);
  }
}

std::future<PatchBatch> PatchBatchReader::read(const SlideReader& slide, const BatchGeometry& geometry,
                                               const TileBounds* tiles, int count) const {
  return std::async(std::launch::async, [&slide, geometry, tiles, count, readers = readers_,
                                         allocate = allocate_] {
    PatchBatch batch;
    batch.count = count;
    const size_t patch_bytes = static_cast<size_t>(geometry.input_width) * geometry.input_height * 3;
    batch.pixels = allocate(patch_bytes * count);
    const int threads_wanted = std::max(1, std::min(readers, count));
    ReadPlanOptions options;
    // Enough reads for every reader thread to have one.
    options.max_tiles = (count + threads_wanted - 1) / threads_wanted;
    const std::vector<PlannedRead> plans = plan_reads(slide.properties(), geometry.resolution, tiles, count, options);
    const int n = static_cast<int>(plans.size());
    std::atomic<int> next{0};
    std::exception_ptr error;
    std::mutex error_mutex;
    const auto work = [&] {
      for (int i = next++; i < n; i = next++) {
        try {
          read_planned(slide, geometry, tiles, plans[i], batch.pixels.data());
        } catch (...) {
          std::lock_guard<std::mutex> lock(error_mutex);
          if (!error) error = std::current_exception();
          next = n;
        }
      }
    };
    std::vector<std::thread> threads;
    for (int r = 1; r < std::min(threads_wanted, n); ++r) threads.emplace_back(work);
    work();
    for (auto& t : threads) t.join();
    if (error) std::rethrow_exception(error);
    return batch;
  });
}

}  // namespace wsi
