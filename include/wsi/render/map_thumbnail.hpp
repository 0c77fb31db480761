// The picture under a prediction map: the slide's thumbnail at the map's size. The cohort file
// keeps a thumbnail at its own (usually coarser) resolution, or none (`run --no-thumbnail`);
// render needs one pixel per map pixel.
#pragma once
#include <cstdint>
#include <vector>

#include "wsi/cohort/cohort_file.hpp"

namespace wsi {

// RGB, maps.shape.height x maps.shape.width x 3, row-major: the stored thumbnail resized (area
// when shrinking, bilinear when enlarging), or, when the file keeps none, the slide itself read
// at the map's scale (throws SlideError naming the slide when it cannot be read).
std::vector<uint8_t> thumbnail_at_map_size(const SlideMaps& maps, const SlideRow& slide);

}  // namespace wsi
