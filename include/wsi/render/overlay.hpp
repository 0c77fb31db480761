// Overlay pictures of a slide's prediction map (`wsi-mpi render`): the map blended over the
// slide's thumbnail, as TIAToolbox's overlay_prediction_mask does, next to a side panel with the
// legend (a colour swatch and the name of each class) and a bar chart of the class fractions.
// Pure OpenCV drawing: reading the cohort file is the caller's business.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

namespace wsi {

// The class palette, RGB. Tableau 10 (the 2016 palette, designed to stay distinct under the
// common colour-vision deficiencies) for classes 0-9, then the light partners of Tableau 20 for
// classes 10-19, then it repeats. Class k always gets entry k % 20, whatever the file.
struct Rgb {
  uint8_t r = 0, g = 0, b = 0;
  bool operator==(const Rgb& o) const { return r == o.r && g == o.g && b == o.b; }
};
const std::vector<Rgb>& class_palette();
Rgb class_colour(size_t class_index);

struct OverlayOptions {
  double alpha = 0.4;           // weight of the class colour over tissue (TIAToolbox: 0.35-0.5)
  int min_map_long_side = 512;  // the map is upscaled (integer factor, nearest) to at least this
  int panel_width = 360;        // side panel width, px (at least 348)
  std::string title;            // first line of the panel (e.g. the slide id)
};

// Where everything lands in the picture (BGR, CV_8UC3); computed by overlay_layout, which
// render_overlay follows, so tests and callers can find the parts.
struct OverlayLayout {
  int scale = 1;                    // map pixel -> scale x scale picture pixels
  cv::Rect map;                     // the blended map, top-left at (0, 0)
  cv::Rect panel;                   // the side panel, right of the map
  std::vector<cv::Rect> swatches;   // legend swatch of each class (filled with its palette colour)
  std::vector<cv::Rect> bars;       // class fraction bar area of each class (full width = 100 %)
  cv::Size size;                    // the whole picture
};
OverlayLayout overlay_layout(int map_width, int map_height, size_t classes, const OverlayOptions& options = {});

// The blend alone, at the map's own size: BGR, CV_8UC3. prediction: H x W, 0 = no tile (left
// as the thumbnail), k >= 1 = class k - 1 (coloured (1 - alpha) x thumbnail + alpha x
// class_colour(k - 1), rounded). thumbnail_rgb: H x W x 3, RGB, row-major.
cv::Mat blend_prediction(const uint8_t* prediction, const uint8_t* thumbnail_rgb, int width, int height,
                         double alpha);

// The whole picture (BGR, CV_8UC3, ready for cv::imwrite): the blend upscaled by
// overlay_layout's scale, and the panel with title, legend and fraction bars. class_fractions:
// one per class, or empty (no chart values: bars left empty). Throws std::invalid_argument on a
// zero-size map, null data or a fraction count that does not match the class names.
cv::Mat render_overlay(const uint8_t* prediction, const uint8_t* thumbnail_rgb, int width, int height,
                       const std::vector<std::string>& class_names, const std::vector<float>& class_fractions,
                       const OverlayOptions& options = {});

}  // namespace wsi
