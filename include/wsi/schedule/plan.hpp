// Planning (data-flow step 1): for each slide, its metadata, tissue mask and filtered tile grid;
// then the global tile numbering and the unit table. A slide that cannot be planned is recorded
// as failed with its reason; planning never stops the job.
#pragma once
#include <string>
#include <vector>

#include <opencv2/core.hpp>

#include "wsi/cohort/cohort_file.hpp"
#include "wsi/job/job.hpp"
#include "wsi/job/manifest.hpp"
#include "wsi/slide/slide_reader.hpp"

namespace wsi {

struct SlidePlan {
  SlideRow row;  // tile_start is set by number_tiles()
  std::string mask_path;
  std::vector<TileBounds> tiles;
  MapShape maps;
  Size at_resolution;  // slide size at the requested resolution
  Size at_overview;    // slide size at the overview resolution
};

// Never throws for a bad slide or mask: the failure lands in row.status / row.error.
SlidePlan plan_slide(const ManifestEntry& entry, const Job& job);
SlidePlan failed_plan(const ManifestEntry& entry, const std::string& error);

// The slide's tissue mask (CV_8UC1, 1 = tissue) as the job defines it: the manifest's mask image,
// or the automatic one from a thumbnail at mask_resolution(). Throws SlideError.
cv::Mat slide_tissue_mask(const SlideReader& slide, const std::string& mask_path, const Job& job);

// Sets tile_start/tile_count in manifest order; returns the total number of tiles.
int64_t number_tiles(std::vector<SlidePlan>& plans);
// Each slide's tiles cut into contiguous ranges of at most unit_tiles.
std::vector<WorkUnit> make_units(const std::vector<SlidePlan>& plans, int64_t unit_tiles);

// Plans travel between ranks as bytes.
std::string serialise(const std::vector<SlidePlan>& plans);
std::vector<SlidePlan> deserialise_plans(const std::string& bytes);

}  // namespace wsi
