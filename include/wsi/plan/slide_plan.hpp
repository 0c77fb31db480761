// Planning one slide (data-flow step 1; src/plan/ is planning's home, wsi/plan/job_plan.hpp):
// its metadata, tissue mask and filtered tile grid; then the global tile numbering and the unit
// table. A slide that cannot be planned is recorded
// as failed with its reason; planning never stops the job.
#pragma once
#include <string>
#include <vector>

#include <opencv2/core.hpp>

#include "wsi/grid/cohort_records.hpp"
#include "wsi/grid/tile_grid.hpp"
#include "wsi/comm/message.hpp"
#include "wsi/job/job.hpp"
#include "wsi/job/manifest.hpp"
#include "wsi/slide/slide_reader.hpp"

namespace wsi {

// Caps on what one slide may ask for (its failure names them).
inline constexpr int64_t kMaxTilesPerSlide = 10'000'000;
inline constexpr int64_t kMaxMapPixels = int64_t{1} << 30;

struct SlidePlan {
  SlideRow row;  // tile_count: tiles.size(); tile_start is set by number_tiles(); resolution_*: size at the resolution
  std::string mask_path;
  std::vector<TileBounds> tiles;  // until the cohort file holds them
  MapShape maps;
};

// What planning sees of a slide that the maps keep: the tissue mask (CV_8UC1, 0/1) and the
// thumbnail (CV_8UC3 RGB at the job's thumbnail resolution; empty when the job keeps none).
struct PlannedImages {
  cv::Mat tissue, thumbnail;
};

// Never throws for a bad slide or mask: the failure lands in row.status / row.error. The slide
// is opened and decoded once: the thumbnail is shrunk from the tissue mask's thumbnail when it is
// no finer, so a slide costs one low-resolution read. `images` (when given) receives both.
SlidePlan plan_slide(const ManifestEntry& entry, const Job& job, PlannedImages* images = nullptr);
SlidePlan failed_plan(const ManifestEntry& entry, const std::string& error);


// Sets tile_start of consecutive slides, the first at `first_tile`; returns the tile after the last.
int64_t number_tiles(std::vector<SlidePlan>& plans, int64_t first_tile);
// Each slide's tiles cut into contiguous ranges of at most unit_tiles; plans[0] is slide `first_slide`.
std::vector<WorkUnit> make_units(const std::vector<SlidePlan>& plans, int64_t first_slide, int64_t unit_tiles);

// Plans travel between ranks as typed messages.
void encode(MessageWriter& w, const SlidePlan& plan);
void decode(MessageReader& r, SlidePlan& plan);

}  // namespace wsi
