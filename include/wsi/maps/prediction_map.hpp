// The maps stage: a slide's tile probabilities merged into one prediction map at the overview
// resolution (TIAToolbox PatchPredictor.merge_predictions), plus its class fractions.
#pragma once
#include <cstdint>
#include <vector>

#include <opencv2/core.hpp>

#include "wsi/grid/tile_grid.hpp"
#include "wsi/units.hpp"

namespace wsi {

// The canvas pixels a tile covers: [ceil(x0 f), ceil(x1 f)) x [ceil(y0 f), ceil(y1 f)),
// f = canvas / slide per axis (slide: size at the requested resolution), each end clipped to
// [0, canvas size]. Empty (x0 >= x1 or y0 >= y1) when the tile lies outside the canvas.
struct CanvasBox {
  int x0 = 0, y0 = 0, x1 = 0, y1 = 0;
};
CanvasBox tile_box_on_canvas(const TileBounds& tile, Size slide, Size canvas);

// canvas: the slide's size at the overview resolution; slide: its size at the requested one.
// Each tile adds its probabilities into [ceil(x0 f), ceil(x1 f)) x [ceil(y0 f), ceil(y1 f))
// (f = canvas / slide per axis, clipped); the map holds argmax + 1 where any tile landed, else 0.
// probabilities: tiles.size() x classes, row-major. Returns CV_8UC1 of the canvas size.
cv::Mat merge_predictions(const std::vector<TileBounds>& tiles, const float* probabilities, int classes, Size slide,
                          Size canvas);

// Fraction of the slide's tiles whose argmax is each class (TIAToolbox postproc: first maximum).
std::vector<float> class_fractions(const float* probabilities, int64_t tiles, int classes);

}  // namespace wsi
