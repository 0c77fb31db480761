// The tile grid: patch bounds laid over a slide at the requested resolution (TIAToolbox
// PatchExtractor.get_coordinates) and the tissue-mask filter (filter_coordinates). Tile order is
// row-major (y outer, x inner) and never changes: it is the order of rows in the cohort file.
#pragma once
#include <cstdint>
#include <vector>

#include <opencv2/core.hpp>

#include "wsi/units.hpp"

namespace wsi {

// [x0, y0, x1, y1) in the requested resolution's frame; edge tiles may reach past the slide.
struct TileBounds {
  int32_t x0 = 0, y0 = 0, x1 = 0, y1 = 0;
  bool operator==(const TileBounds& o) const { return x0 == o.x0 && y0 == o.y0 && x1 == o.x1 && y1 == o.y1; }
};

// Top-left x in arange(0, ceil(W / patch) * patch, stride), likewise y; partial edge tiles kept.
std::vector<TileBounds> patch_grid(Size slide_at_resolution, int patch, int stride);

// Which of TIAToolbox 1.4.1's engines a job's tile set and edge padding follow (see
// docs/conventions.md): PatchPredictor's, or DeepFeatureExtractor's (SemanticSegmentor's).
enum class TileRule { predictor, extractor };

// Keeps the tiles that touch tissue; `mask` is CV_8UC1 (0 = background).
// - predictor (filter_coordinates of PatchPredictor): bounds scaled by mask size / slide size per
//   axis in float32, clipped to the mask, truncated; kept if any pixel of mask[y0:y1, x0:x1] is
//   non-zero.
// - extractor (SemanticSegmentor.filter_coordinates): bounds scaled by the height ratio alone
//   (mask rows / slide rows, float64) on both axes, ceil, int32; kept if any pixel of
//   mask[y0:y1, x0:x1] (numpy slicing: clipped) is non-zero.
std::vector<TileBounds> filter_by_mask(const std::vector<TileBounds>& tiles, const cv::Mat& mask,
                                       Size slide_at_resolution, TileRule rule = TileRule::predictor);

}  // namespace wsi
