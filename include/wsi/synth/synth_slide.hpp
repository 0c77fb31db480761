// Synthetic whole-slide images for demos, tests and benchmarks: tiled, pyramidal, JPEG,
// Aperio-style TIFFs that OpenSlide reads as vendor "aperio" with mpp and objective power.
// Tissue-like regions of known classes lie on a white background, off the patch grid.
#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace wsi {

struct SynthClass {
  std::string name;
  std::array<uint8_t, 3> rgb;  // mean colour of its tissue
};
// The synthetic classes in model order (the demo model and the layouts use this order).
const std::vector<SynthClass>& synth_classes();

// A region of one class, in level-0 pixels: an axis-aligned ellipse inside its box.
struct SynthRegion {
  int class_index = 0;
  int64_t x0 = 0, y0 = 0, x1 = 0, y1 = 0;
};

struct SynthSlideSpec {
  int64_t width = 8000;
  int64_t height = 6000;
  int levels = 3;                 // >= 1; each level halves the previous one
  double mpp = 0.5;
  double objective_power = 20.0;
  uint32_t seed = 1;
  int tile_size = 256;
  int jpeg_quality = 90;
};

// The ground truth of one slide: its regions; class_at() answers -1 for background.
struct SynthLayout {
  int64_t width = 0, height = 0;
  std::vector<SynthRegion> regions;
  int class_at(double x, double y) const;  // level-0 coordinates
};

// The size of each level that write_synth_slide writes: level 0 is the spec's size, each further
// level rounds half of the previous one up; downsample is 2^level (level-0 px per level px).
struct SynthLevelSize {
  int64_t width = 0, height = 0, downsample = 1;
};
std::vector<SynthLevelSize> synth_level_sizes(const SynthSlideSpec& spec);

// Places regions from the seed (deterministic), then writes the slide. Throws std::runtime_error
// naming the file on any libtiff failure. Memory stays bounded (one row of tiles per level).
SynthLayout make_synth_layout(const SynthSlideSpec& spec);
void write_synth_slide(const std::string& path, const SynthSlideSpec& spec, const SynthLayout& layout);

// CSV "class,name,x0,y0,x1,y1" (level-0 px), one region a line: the truth the end-to-end tests
// read (tests/e2e/common.py, read_layout).
void write_layout_csv(const std::string& path, const SynthLayout& layout);

}  // namespace wsi
