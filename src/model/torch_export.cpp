// The LibTorch parts of `export` and `render` (declared torch-free in wsi/render/export.hpp and
// wsi/render/feature_picture.hpp): the .pt feature tensor and the PCA of feature moments.
#include <torch/csrc/jit/serialization/pickle.h>
#include <torch/script.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <stdexcept>

#include "wsi/render/export.hpp"

#include "util/exclusive_file.hpp"
#include "wsi/render/feature_picture.hpp"

namespace wsi {

void write_feature_tensor(const std::string& path, const float* features, int64_t rows, int64_t cols) {
  if (rows < 0 || cols <= 0) throw std::invalid_argument("feature tensor '" + path + "': bad shape");
  torch::Tensor tensor = rows == 0 ? torch::zeros({0, cols}, torch::kFloat32)
                                   : torch::from_blob(const_cast<float*>(features), {rows, cols}, torch::kFloat32)
                                         .clone();
  const std::vector<char> bytes = torch::jit::pickle_save(tensor);
  write_file_atomically(path + ".partial", path, std::string(bytes.begin(), bytes.end()));
}

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
  torch::NoGradGuard no_grad;
  const auto x = torch::from_blob(const_cast<float*>(rows), {n, dim}, torch::kFloat32).to(torch::kFloat64);
  auto sum = torch::from_blob(m.sum.data(), {dim}, torch::kFloat64);
  auto gram = torch::from_blob(m.gram.data(), {dim, dim}, torch::kFloat64);
  sum.add_(x.sum(0));
  gram.add_(torch::mm(x.t(), x));
  m.count += n;
}

FeaturePca feature_pca(const FeatureMoments& m) {
  if (m.count <= 0 || m.dim <= 0) throw std::invalid_argument("PCA: no feature rows");
  torch::NoGradGuard no_grad;
  const int64_t d = m.dim;
  const auto n = static_cast<double>(m.count);
  const auto sum = torch::from_blob(const_cast<double*>(m.sum.data()), {d}, torch::kFloat64);
  const auto gram = torch::from_blob(const_cast<double*>(m.gram.data()), {d, d}, torch::kFloat64);
  const auto mean = sum / n;
  auto covariance = (gram - n * torch::outer(mean, mean)) / std::max(n - 1.0, 1.0);
  covariance = 0.5 * (covariance + covariance.t());  // exactly symmetric for eigh
  const auto [values, vectors] = at::linalg_eigh(covariance, "L");  // ascending eigenvalues
  FeaturePca pca;
  pca.dim = d;
  pca.mean.assign(mean.data_ptr<double>(), mean.data_ptr<double>() + d);
  pca.components.assign(static_cast<size_t>(3 * d), 0.0);
  const auto v = vectors.contiguous();
  const double* vp = v.data_ptr<double>();  // row-major d x d; column j = eigenvector j
  for (int64_t k = 0; k < std::min<int64_t>(3, d); ++k) {
    const int64_t column = d - 1 - k;
    int64_t biggest = 0;
    for (int64_t i = 1; i < d; ++i)
      if (std::abs(vp[i * d + column]) > std::abs(vp[biggest * d + column])) biggest = i;
    const double sign = vp[biggest * d + column] < 0 ? -1.0 : 1.0;
    for (int64_t i = 0; i < d; ++i) pca.components[k * d + i] = sign * vp[i * d + column];
  }
  return pca;
}

}  // namespace wsi
