// `wsi-mpi export`: a cohort file's per-tile results in the formats of downstream tools.
// - clam: per done slide DIR/h5_files/<key>.h5 (`features` N x D float32, `coords` N x 2 int64
//   level-0 top-left, with the attributes CLAM's and TRIDENT's slide-level code reads) and
//   DIR/pt_files/<key>.pt (the N x D float32 tensor, torch.load-able).
// - geojson: per done slide DIR/<key>.geojson, a FeatureCollection of tile polygons in level-0
//   pixels with the argmax class and the probabilities (QuPath opens them as detections).
// - tiatoolbox-zarr, annotation-store: per done slide DIR/<stem>.zarr or DIR/<stem>.db in the
//   layouts of TIAToolbox 2.x (wsi/export/tiatoolbox_export.hpp).
// <key> is /slides/key: the slide id itself unless the id has characters unsafe in a file name.
// Memory: one slide's rows at a time (N x D floats).
#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "wsi/cohort/clam_file.hpp"
#include "wsi/cohort/cohort_file.hpp"
#include "wsi/grid/tile_grid.hpp"

namespace wsi {

// `<key><suffix>`, the file a slide's export or picture goes to; throws when the key (read from a
// cohort file) is not a plain file name, so that nothing is written outside the folder given.
std::string slide_file_name(const SlideRow& slide, const char* suffix);

enum class ExportFormat { clam, geojson, tiatoolbox_zarr, annotation_store };
ExportFormat parse_export_format(const std::string& text);  // throws std::invalid_argument

ClamAttributes clam_attributes(const SlideRow& slide, int64_t patch_size);

// One slide's GeoJSON FeatureCollection (text): one Feature per tile, in tile order, a closed
// Polygon over its Level0Box, properties objectType "detection", classification {name, color}
// (argmax class, its palette colour), "probabilities" {class: p}, "tile" (row in /tiles).
// probabilities: tiles.size() x class_names.size(); first_row: the slide's tile_start.
std::string slide_geojson(const SlideRow& slide, const std::vector<TileBounds>& tiles, const float* probabilities,
                          const std::vector<std::string>& class_names, int64_t first_row);

struct ExportOptions {
  ExportFormat format = ExportFormat::clam;
  std::string output;  // folder, made if missing
  std::string slide;   // one slide (id or key); "" = every done slide
};

// Exports a cohort file; returns the files written. Throws std::invalid_argument for what the
// user asked wrongly (unknown slide, a slide not done, clam without features, geojson or
// annotation-store without probabilities) and std::runtime_error for I/O failures.
std::vector<std::string> export_cohort(const std::string& path, const ExportOptions& options);

}  // namespace wsi
