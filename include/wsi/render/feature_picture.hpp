// The feature picture of `wsi-mpi render` (<slide key>.features.png): each tile's feature vector
// reduced to three dimensions by PCA (per slide, or over the whole cohort) and shown as RGB at the
// overview resolution, over the slide's thumbnail, beside the prediction overlay when the file
// has probabilities. The tutorial's DeepFeatureExtractor picture, at cohort scale.
//
// PCA: the covariance of the features (float64 moments, accumulated slide by slide, so memory is
// D x D whatever the cohort) is diagonalised by OpenCV (cv::eigen); component k is the eigenvector
// of the k-th largest eigenvalue, its sign chosen so that its largest-magnitude entry is positive
// (the first such entry on a tie). Scores = (x - mean) . component. Each score is mapped to
// 0..255 linearly between its 1st and 99th percentile (numpy's linear percentile over the
// slide's tiles, or the cohort's with --pca cohort), clamped; component 1 is red, 2 green,
// 3 blue. A constant component (e.g. one tile) gives 128.
#pragma once
#include <array>
#include <cstdint>
#include <vector>

#include <opencv2/core.hpp>

#include "wsi/grid/tile_grid.hpp"
#include "wsi/units.hpp"

namespace wsi {

// Sums of feature rows and their outer products (float64), for the covariance.
struct FeatureMoments {
  int64_t dim = 0, count = 0;
  std::vector<double> sum;   // dim
  std::vector<double> gram;  // dim x dim, sum of x x^T
};
// Adds n rows of dim floats. The first call fixes dim; a different dim throws.
void accumulate_feature_moments(FeatureMoments& moments, const float* rows, int64_t n, int64_t dim);

struct FeaturePca {
  int64_t dim = 0;
  std::vector<double> mean;        // dim
  std::vector<double> components;  // 3 x dim, row k = component k (zeros where dim < k + 1)
};
// Throws std::invalid_argument for empty moments.
FeaturePca feature_pca(const FeatureMoments& moments);

// n x 3 scores, row-major.
std::vector<float> project_features(const FeaturePca& pca, const float* rows, int64_t n);

// Per component, the low and high end of the colour scale (1st and 99th percentile).
struct ScoreRange {
  std::array<double, 3> low{0, 0, 0}, high{0, 0, 0};
};
// numpy.percentile(..., method="linear") of each column of n x 3 scores.
ScoreRange score_range(const std::vector<float>& scores, double low_percent = 1.0, double high_percent = 99.0);
// n x 3 RGB bytes: round(255 (s - low) / (high - low)), clamped; 128 where high == low.
std::vector<uint8_t> scores_to_rgb(const std::vector<float>& scores, const ScoreRange& range);

// The picture at the overview resolution (BGR, CV_8UC3, canvas size): each tile's RGB painted
// opaquely over the canvas box merge_predictions gives it (tile_box_on_canvas; overlapping tiles
// averaged, rounded), the thumbnail (H x W x 3 RGB) elsewhere.
cv::Mat paint_tile_colours(const std::vector<TileBounds>& tiles, const uint8_t* tile_rgb, Size slide_at_resolution,
                           Size canvas, const uint8_t* thumbnail_rgb);

// The PNG: the prediction blend on the left when there is one, a white gap, the feature picture;
// both upscaled (nearest, integer factor) so the long side is at least min_long_side.
struct FeaturePictureLayout {
  int scale = 1;
  cv::Rect prediction;  // empty when there is no prediction map
  cv::Rect features;
  cv::Size size;
};
FeaturePictureLayout feature_picture_layout(int map_width, int map_height, bool with_prediction, int min_long_side);
// prediction_bgr: the overlay blend (blend_prediction), or an empty Mat.
cv::Mat render_feature_picture(const cv::Mat& features_bgr, const cv::Mat& prediction_bgr, int min_long_side);

}  // namespace wsi
