// The feature picture of `wsi-mpi render`, see wsi/render/feature_picture.hpp: the PCA of feature
// moments and the picture, plain C++ and OpenCV.
#include "wsi/render/feature_picture.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include <opencv2/imgproc.hpp>

#include "wsi/maps/prediction_map.hpp"

namespace wsi {
namespace {

constexpr int kGap = 8;  // white px between the prediction blend and the feature picture

double percentile(std::vector<double>& sorted, double percent) {
  // numpy's default ("linear"): position p / 100 x (n - 1) between the two neighbours.
  const double position = percent / 100.0 * static_cast<double>(sorted.size() - 1);
  const auto below = static_cast<size_t>(std::floor(position));
  const size_t above = std::min(below + 1, sorted.size() - 1);
  const double t = position - static_cast<double>(below);
  return sorted[below] + t * (sorted[above] - sorted[below]);
}

}  // namespace

void accumulate_feature_moments(FeatureMoments& m, const float* rows, int64_t n, int64_t dim) {
  if (dim <= 0) throw std::invalid_argument("PCA: features have no columns");
  if (m.dim == 0) {
    m.dim = dim;
    m.sum.assign(dim, 0.0);
    m.gram.assign(static_cast<size_t>(dim * dim), 0.0);
  } else if (m.dim != dim) {
    throw std::invalid_argument("PCA: features of " + std::to_string(dim) + " columns after " +
                                std::to_string(m.dim));
  }
  if (n <= 0) return;
  cv::Mat x;
  cv::Mat(static_cast<int>(n), static_cast<int>(dim), CV_32F, const_cast<float*>(rows)).convertTo(x, CV_64F);
  cv::Mat sum(1, static_cast<int>(dim), CV_64F, m.sum.data()), gram(static_cast<int>(dim), static_cast<int>(dim),
                                                                       CV_64F, m.gram.data());
  cv::Mat column_sums;
  cv::reduce(x, column_sums, 0, cv::REDUCE_SUM, CV_64F);
  sum += column_sums;
  cv::gemm(x, x, 1.0, gram, 1.0, gram, cv::GEMM_1_T);
  m.count += n;
}

FeaturePca feature_pca(const FeatureMoments& m) {
  if (m.count <= 0 || m.dim <= 0) throw std::invalid_argument("PCA: no feature rows");
  const int d = static_cast<int>(m.dim);
  const auto n = static_cast<double>(m.count);
  const cv::Mat sum(1, d, CV_64F, const_cast<double*>(m.sum.data()));
  const cv::Mat gram(d, d, CV_64F, const_cast<double*>(m.gram.data()));
  const cv::Mat mean = sum / n;
  cv::Mat covariance = (gram - n * mean.t() * mean) / std::max(n - 1.0, 1.0);
  covariance = 0.5 * (covariance + covariance.t());  // exactly symmetric for the eigen solver
  cv::Mat values, vectors;  // eigenvalues descending, eigenvector k in row k
  cv::eigen(covariance, values, vectors);
  FeaturePca pca;
  pca.dim = d;
  pca.mean.assign(mean.ptr<double>(), mean.ptr<double>() + d);
  pca.components.assign(static_cast<size_t>(3) * d, 0.0);
  for (int k = 0; k < std::min(3, d); ++k) {
    const double* v = vectors.ptr<double>(k);
    int biggest = 0;
    for (int i = 1; i < d; ++i)
      if (std::abs(v[i]) > std::abs(v[biggest])) biggest = i;
    const double sign = v[biggest] < 0 ? -1.0 : 1.0;
    for (int i = 0; i < d; ++i) pca.components[static_cast<size_t>(k) * d + i] = sign * v[i];
  }
  return pca;
}

std::vector<float> project_features(const FeaturePca& pca, const float* rows, int64_t n) {
  std::vector<float> scores(static_cast<size_t>(3 * std::max<int64_t>(n, 0)), 0.0f);
  const int64_t d = pca.dim;
  for (int64_t r = 0; r < n; ++r) {
    const float* x = rows + r * d;
    for (int k = 0; k < 3; ++k) {
      const double* c = &pca.components[k * d];
      double s = 0;
      for (int64_t i = 0; i < d; ++i) s += (static_cast<double>(x[i]) - pca.mean[i]) * c[i];
      scores[3 * r + k] = static_cast<float>(s);
    }
  }
  return scores;
}

ScoreRange score_range(const std::vector<float>& scores, double low_percent, double high_percent) {
  ScoreRange range;
  const size_t n = scores.size() / 3;
  if (n == 0) return range;
  std::vector<double> column(n);
  for (int k = 0; k < 3; ++k) {
    for (size_t r = 0; r < n; ++r) column[r] = scores[3 * r + k];
    std::sort(column.begin(), column.end());
    range.low[k] = percentile(column, low_percent);
    range.high[k] = percentile(column, high_percent);
  }
  return range;
}

std::vector<uint8_t> scores_to_rgb(const std::vector<float>& scores, const ScoreRange& range) {
  std::vector<uint8_t> rgb(scores.size());
  for (size_t i = 0; i < scores.size(); ++i) {
    const int k = static_cast<int>(i % 3);
    const double span = range.high[k] - range.low[k];
    if (!(span > 0)) {
      rgb[i] = 128;
      continue;
    }
    const double v = 255.0 * (scores[i] - range.low[k]) / span;
    rgb[i] = static_cast<uint8_t>(std::lround(std::clamp(v, 0.0, 255.0)));
  }
  return rgb;
}

cv::Mat paint_tile_colours(const std::vector<TileBounds>& tiles, const uint8_t* tile_rgb, Size slide_at_resolution,
                           Size canvas, const uint8_t* thumbnail_rgb) {
  const int width = static_cast<int>(canvas.width), height = static_cast<int>(canvas.height);
  if (width <= 0 || height <= 0 || slide_at_resolution.width <= 0 || slide_at_resolution.height <= 0)
    throw std::invalid_argument("feature picture: empty canvas or slide");
  if (!thumbnail_rgb || (!tiles.empty() && !tile_rgb)) throw std::invalid_argument("feature picture: no data");
  std::vector<uint32_t> sum(static_cast<size_t>(width) * height * 3, 0);
  std::vector<uint32_t> count(static_cast<size_t>(width) * height, 0);
  for (size_t t = 0; t < tiles.size(); ++t) {
    const CanvasBox box = tile_box_on_canvas(tiles[t], slide_at_resolution, canvas);
    for (int y = box.y0; y < box.y1; ++y)
      for (int x = box.x0; x < box.x1; ++x) {
        const size_t p = static_cast<size_t>(y) * width + x;
        for (int c = 0; c < 3; ++c) sum[3 * p + c] += tile_rgb[3 * t + c];
        ++count[p];
      }
  }
  cv::Mat out(height, width, CV_8UC3);
  for (int y = 0; y < height; ++y) {
    auto* row = out.ptr<cv::Vec3b>(y);
    for (int x = 0; x < width; ++x) {
      const size_t p = static_cast<size_t>(y) * width + x;
      uint8_t rgb[3];
      for (int c = 0; c < 3; ++c)
        rgb[c] = count[p] ? static_cast<uint8_t>((sum[3 * p + c] + count[p] / 2) / count[p]) : thumbnail_rgb[3 * p + c];
      row[x] = cv::Vec3b(rgb[2], rgb[1], rgb[0]);
    }
  }
  return out;
}

FeaturePictureLayout feature_picture_layout(int map_width, int map_height, bool with_prediction, int min_long_side) {
  if (map_width <= 0 || map_height <= 0) throw std::invalid_argument("feature picture: empty map");
  FeaturePictureLayout layout;
  const int long_side = std::max(map_width, map_height);
  layout.scale = std::max(1, (min_long_side + long_side - 1) / long_side);
  const int w = map_width * layout.scale, h = map_height * layout.scale;
  if (with_prediction) {
    layout.prediction = cv::Rect(0, 0, w, h);
    layout.features = cv::Rect(w + kGap, 0, w, h);
  } else {
    layout.features = cv::Rect(0, 0, w, h);
  }
  layout.size = cv::Size(layout.features.x + w, h);
  return layout;
}

cv::Mat render_feature_picture(const cv::Mat& features_bgr, const cv::Mat& prediction_bgr, int min_long_side) {
  if (features_bgr.empty() || features_bgr.type() != CV_8UC3)
    throw std::invalid_argument("feature picture: no BGR picture");
  const bool with_prediction = !prediction_bgr.empty();
  if (with_prediction && prediction_bgr.size() != features_bgr.size())
    throw std::invalid_argument("feature picture: prediction blend and features differ in size");
  const FeaturePictureLayout layout =
      feature_picture_layout(features_bgr.cols, features_bgr.rows, with_prediction, min_long_side);
  cv::Mat picture(layout.size, CV_8UC3, cv::Scalar(255, 255, 255));
  cv::resize(features_bgr, picture(layout.features), layout.features.size(), 0, 0, cv::INTER_NEAREST);
  if (with_prediction)
    cv::resize(prediction_bgr, picture(layout.prediction), layout.prediction.size(), 0, 0, cv::INTER_NEAREST);
  return picture;
}

}  // namespace wsi
