// The picture under a prediction map: the slide's thumbnail at the map's size. The cohort file
// keeps a thumbnail at its own (usually coarser) resolution, or none (`run --no-thumbnail`);
// render needs one pixel per map pixel.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "wsi/cohort/cohort_file.hpp"

namespace wsi {

// Whether the file keeps a thumbnail for these maps (else the slide's pixels are needed).
bool keeps_thumbnail(const MapShape& shape);

// RGB, maps.shape.height x maps.shape.width x 3, row-major: the stored thumbnail resized (area
// when shrinking, bilinear when enlarging), or, when the file keeps none, `slide_file` read at
// the map's scale (throws SlideError naming it when it cannot be read). The caller chooses
// `slide_file`: a cohort file's own /slides/path is no file to open on its word.
std::vector<uint8_t> thumbnail_at_map_size(const SlideMaps& maps, const SlideRow& slide,
                                           const std::string& slide_file);

}  // namespace wsi
