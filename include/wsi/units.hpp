// Resolution math: the only place that converts between level-0 pixels, microns per pixel,
// objective power, pyramid levels and "baseline" scales (TIAToolbox 1.4.1 conventions).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace wsi {

enum class Units { mpp, power, level, baseline };
Units parse_units(const std::string& text);  // throws std::invalid_argument
std::string to_string(Units units);

struct Resolution {
  double value = 0.5;
  Units units = Units::mpp;
};
std::string to_string(const Resolution& resolution);  // e.g. "0.5 mpp"

struct Size {
  int64_t width = 0;
  int64_t height = 0;
  bool operator==(const Size& other) const { return width == other.width && height == other.height; }
};

struct Level {
  int64_t width = 0;
  int64_t height = 0;
  double downsample = 1.0;  // level-0 px per level px, as OpenSlide reports it
};

// What a slide says about itself, normalised once when it is opened (see slide/slide_reader.hpp).
struct SlideProperties {
  std::vector<Level> levels;     // level 0 first
  double mpp = 0.0;              // microns per level-0 px (x); 0 when unknown
  double objective_power = 0.0;  // 0 when unknown
  std::string vendor;
  Size size() const { return levels.empty() ? Size{} : Size{levels[0].width, levels[0].height}; }
};

// TIAToolbox's relative_level_scales: for each level, requested px per level px along x and y is
// 1/scale; a level with both scales <= 1 (rounded to 3 decimals) has enough resolution.
struct Scale2 {
  double x = 1.0;
  double y = 1.0;
};
std::vector<Scale2> relative_level_scales(const SlideProperties& slide, const Resolution& resolution);

// The level TIAToolbox reads from: the lowest-resolution level whose scales are all <= 1, else 0.
struct ReadLevel {
  int level = 0;
  Scale2 scale;  // relative scale of that level (resize factor = 1 / scale... see read rules)
};
ReadLevel optimal_read_level(const SlideProperties& slide, const Resolution& resolution);

// Level-0 px per px at the requested resolution (the scale stored in /slides/scale).
Scale2 baseline_per_requested(const SlideProperties& slide, const Resolution& resolution);

// How TIAToolbox's read_bounds reads a box: which level, where (OpenSlide takes the level-0
// top-left), how many pixels at that level, and the level box used to pad what lies outside.
struct RegionRead {
  int level = 0;
  Scale2 scale;                    // relative scale of the read level (TIAToolbox post_read_scale)
  int64_t x = 0, y = 0;            // level-0 top-left handed to OpenSlide
  int64_t level_x = 0, level_y = 0;  // top-left at the read level, round(x / downsample)
  int64_t width = 0, height = 0;     // pixels read at the read level
};

// Bounds [x0, x1) x [y0, y1) given at the requested resolution (coord_space="resolution"):
// level-0 top-left = ceil(x0 / s), level-0 size = ceil((x1 - x0) / s), s = level scale / downsample.
RegionRead region_at_resolution(const SlideProperties& slide, const Resolution& resolution, int64_t x0,
                                int64_t y0, int64_t x1, int64_t y1);

// Bounds given in level-0 pixels (coord_space="baseline"); the output is `output` px large.
RegionRead region_at_baseline(const SlideProperties& slide, const Resolution& resolution, int64_t x0,
                              int64_t y0, int64_t x1, int64_t y1, Size* output);

// Slide size at the requested resolution, as TIAToolbox's slide_dimensions computes it:
// round(round(level-0 size / downsample) * scale) at the read level.
Size size_at_resolution(const SlideProperties& slide, const Resolution& resolution);

// TIAToolbox's fallback objective power for a slide with mpp but none: the common power
// (1, 1.25, 2, 2.5, 4, 5, 10, 20, 40, 60, 90, 100) nearest to 10 / mpp.
double common_objective_power(double mpp);
// Microns per pixel at an objective power, by the same convention: 10 / power.
double mpp_at_power(double power);

// What a cohort file keeps of a slide's resolution is its level-0 size and scale s (level-0 px
// per requested px). From those:
// - the size at the requested resolution, round(level-0 size / s); TIAToolbox's own value
//   (rounded at the read level) differs by at most a pixel;
Size size_from_scale(Size level0, double scale);
// - the magnification tiles are read at, objective power / s (0 when s is unknown);
double magnification_at_scale(double objective_power, double scale);
// - a tile's level-0 box, from its bounds at the requested resolution, in float64:
//   x = ceil(x0 * s), y = ceil(y0 * s), size = ceil(patch * s) with patch = x1 - x0. This is
//   TIAToolbox's read_bounds rule for the level-0 box it reads (ceil(x0 / (1 / s))), so the box
//   is the area the tile's pixels came from.
struct Level0Box {
  int64_t x = 0, y = 0, width = 0, height = 0;
};
Level0Box level0_box(int64_t x0, int64_t y0, int64_t x1, int64_t y1, double scale);
int64_t level0_length(int64_t length, double scale);  // ceil(length * s)

}  // namespace wsi
