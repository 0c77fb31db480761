// The records of a cohort as the data flow makes them: a slide's row (what planning learned of
// it), its map sizes, and the work units its tiles are cut into. Planning, scheduling and the
// cohort file share them; the cohort file stores them (layout in docs/cohort-file.md).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace wsi {

enum class SlideStatus : int8_t { pending = 0, done = 1, failed = 2 };

// One row of /slides.
struct SlideRow {
  std::string id, key, path;
  SlideStatus status = SlideStatus::pending;
  std::string error;
  int64_t tile_start = 0, tile_count = 0;
  int64_t width = 0, height = 0;  // level 0
  double mpp = 0, objective_power = 0;
  double scale = 0;  // level-0 px per requested-resolution px
  int64_t resolution_width = 0, resolution_height = 0;  // the slide's size at the requested resolution
  // /slides/class_fractions row (C values, fraction of the slide's tiles per predicted class).
  // create(): written when it has C values, zeros otherwise; read back by read_cohort_summary
  // (empty when the file has no classes).
  std::vector<float> class_fractions;
};

// A contiguous range of one slide's tiles: the unit of scheduling and of checkpointing.
struct WorkUnit {
  int64_t slide = 0, first_tile = 0, tile_count = 0;  // first_tile: global row index
};

// Sizes of one slide's /maps/<key> datasets; a slide with no maps (failed in planning) has zeros.
struct MapShape {
  int64_t height = 0, width = 0;                      // prediction (overview resolution)
  int64_t thumbnail_height = 0, thumbnail_width = 0;  // thumbnail (its own resolution; 0: none)
  int64_t mask_height = 0, mask_width = 0;            // tissue
};
inline bool has_maps(const MapShape& shape) {
  return shape.height > 0 || shape.width > 0 || shape.mask_height > 0 || shape.mask_width > 0;
}

}  // namespace wsi
