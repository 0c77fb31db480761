// The exports for TIAToolbox 2.x (`wsi-mpi export --format tiatoolbox-zarr | annotation-store`),
// in the layouts its engines write (docs/usage.md, where `wsi-mpi export` is described):
// - <stem>.zarr: a Zarr format 2 store, arrays at the root, no attributes: `coordinates` int64
//   N x 4 (x0, y0, x1, y1 at the read resolution), `predictions` N (argmax, the smallest unsigned
//   type that holds the largest class index) and `probabilities` float32 N x C when the file has
//   probabilities, `features` float32 N x D when it has features.
// - <stem>.db: an SQLite database in the layout of TIAToolbox's SQLiteStore: one rectangle per
//   tile in level-0 pixels (bounds x scale, not rounded), keys "0".."N-1", properties
//   {"prob_<class>": p, ..., "type": "<argmax class>"}, and "umap_rgb": [r, g, b] (0..255, the
//   colour render gives the tile in <key>.umap.png) when /tiles/umap holds the slide.
// Both are made beside the final name and renamed into place (util/exclusive_file.hpp).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "wsi/cohort/cohort_file.hpp"
#include "wsi/grid/tile_grid.hpp"

namespace wsi {

// The name each slide of a cohort has in these exports, one per /slides row: the slide file's
// name without its last extension (TIAToolbox's Path.stem), made a plain file name; a stem that
// an earlier row already has gets "_2", "_3", ... (as slide keys do), so that two slides named
// alike in different folders never overwrite each other's stores.
std::vector<std::string> tiatoolbox_stems(const std::vector<SlideRow>& slides);

// One slide's rows of /tiles, N = tiles.size(); classes 0: the file has no probabilities,
// feature_size 0: no features.
struct SlideTileRows {
  std::vector<TileBounds> tiles;
  int64_t classes = 0, feature_size = 0;
  std::vector<float> probabilities;  // N x classes
  std::vector<float> features;       // N x feature_size
  std::vector<uint8_t> umap_rgb;     // N x 3, or empty: no UMAP colours
};

// The Zarr store of one slide at `target` (a folder, replaced as a whole when it exists).
void write_tiatoolbox_zarr(const std::string& target, const SlideTileRows& rows);

// The 93 bytes of WKB (little-endian) of the closed polygon (x0 y0, x0 y1, x1 y1, x1 y0, x0 y0),
// the ring shapely's Polygon.from_bounds makes.
std::string rectangle_wkb(double x0, double y0, double x1, double y1);

// The annotation store of one slide at `target` (a file, replaced when it exists), written in
// one transaction. `scale`: level-0 pixels per read-resolution pixel (/slides/scale).
void write_annotation_store(const std::string& target, const SlideTileRows& rows,
                            const std::vector<std::string>& class_names, double scale);

}  // namespace wsi
