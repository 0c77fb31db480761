// UMAP's neighbour graph (see wsi/embed/umap.hpp): the curve fit, smooth k-NN distances and the
// fuzzy union (the neighbours themselves: nearest_neighbours.cpp).
#include <algorithm>
#include <cmath>
#include <limits>
#include <sstream>
#include <stdexcept>
#include <tuple>

#include "wsi/embed/umap.hpp"

namespace wsi {

UmapMetric parse_umap_metric(const std::string& name) {
  for (const UmapMetric m : {UmapMetric::manhattan, UmapMetric::euclidean, UmapMetric::cosine})
    if (name == umap_metric_name(m)) return m;
  throw std::invalid_argument("unknown UMAP metric '" + name + "' (manhattan, euclidean or cosine)");
}

const char* umap_metric_name(UmapMetric metric) {
  switch (metric) {
    case UmapMetric::manhattan: return "manhattan";
    case UmapMetric::euclidean: return "euclidean";
    case UmapMetric::cosine: return "cosine";
  }
  return "?";
}

void check_umap_parameters(const UmapParameters& p) {
  const auto refuse = [](const char* what, double value) {
    std::ostringstream message;  // 2, 0.5: as given
    message << "UMAP: " << what << ", got " << value;
    throw std::invalid_argument(message.str());
  };
  if (p.n_neighbors < 2) refuse("n_neighbors must be at least 2", p.n_neighbors);
  if (p.n_components < 1 || p.n_components > 64) refuse("n_components must be in 1..64", p.n_components);
  if (!(p.spread > 0) || !std::isfinite(p.spread)) refuse("spread must be positive", p.spread);
  if (!(p.min_dist >= 0) || !(p.min_dist < 3 * p.spread)) refuse("min_dist must be in [0, 3 x spread)", p.min_dist);
  if (p.threads < 1) refuse("threads must be at least 1", p.threads);
}

UmapCurve fit_umap_curve(double spread, double min_dist) {
  constexpr int kPoints = 300;
  std::vector<double> x(kPoints), y(kPoints);
  for (int i = 0; i < kPoints; ++i) {
    x[i] = 3.0 * spread * i / (kPoints - 1);
    y[i] = x[i] < min_dist ? 1.0 : std::exp(-(x[i] - min_dist) / spread);
  }
  // Residuals and the Jacobian of f = 1 / (1 + a x^(2b)) at (a, b); returns the squared error.
  const auto evaluate = [&](double a, double b, double jtj[3], double jtr[2]) {
    double error = 0;
    jtj[0] = jtj[1] = jtj[2] = jtr[0] = jtr[1] = 0;
    for (int i = 0; i < kPoints; ++i) {
      const double p = x[i] > 0 ? std::pow(x[i], 2 * b) : 0.0;
      const double f = 1.0 / (1.0 + a * p), r = f - y[i];
      const double da = -p * f * f, db = x[i] > 0 ? -a * p * 2 * std::log(x[i]) * f * f : 0.0;
      error += r * r;
      jtj[0] += da * da, jtj[1] += da * db, jtj[2] += db * db;
      jtr[0] += da * r, jtr[1] += db * r;
    }
    return error;
  };
  double a = 1, b = 1, lambda = 1e-3, jtj[3], jtr[2];
  double error = evaluate(a, b, jtj, jtr);
  for (int iteration = 0; iteration < 1000 && lambda < 1e12; ++iteration) {
    // Levenberg-Marquardt step: (J^T J + lambda diag(J^T J)) step = -J^T r.
    const double m00 = jtj[0] * (1 + lambda), m11 = jtj[2] * (1 + lambda), m01 = jtj[1];
    const double det = m00 * m11 - m01 * m01;
    const double step_a = -(m11 * jtr[0] - m01 * jtr[1]) / det, step_b = -(m00 * jtr[1] - m01 * jtr[0]) / det;
    double trial_jtj[3], trial_jtr[2];
    const double trial = evaluate(a + step_a, b + step_b, trial_jtj, trial_jtr);
    if (trial < error) {
      const bool converged = error - trial < 1e-15 * error;
      a += step_a, b += step_b, error = trial, lambda /= 10;
      std::copy(trial_jtj, trial_jtj + 3, jtj), std::copy(trial_jtr, trial_jtr + 2, jtr);
      if (converged) break;
    } else {
      lambda *= 10;
    }
  }
  return {a, b};
}

SmoothDistances smooth_knn_distances(const Neighbours& nn, bool local_connectivity) {
  constexpr double kMinDistanceScale = 1e-3;  // umap-learn's MIN_K_DIST_SCALE
  constexpr double kTolerance = 1e-5;
  const int k = nn.k;
  const double target = std::log2(static_cast<double>(k));
  double mean_all = 0;
  for (const float d : nn.distance) mean_all += d;
  mean_all /= std::max<double>(1.0, static_cast<double>(nn.distance.size()));
  SmoothDistances s;
  s.rho.assign(static_cast<size_t>(nn.n), 0.0);
  s.sigma.assign(static_cast<size_t>(nn.n), 1.0);
  for (int64_t i = 0; i < nn.n; ++i) {
    const float* d = &nn.distance[i * k];
    if (local_connectivity)
      for (int j = 0; j < k; ++j)
        if (d[j] > 0) {
          s.rho[i] = d[j];
          break;
        }
    double lo = 0, hi = std::numeric_limits<double>::infinity(), mid = 1;
    for (int step = 0; step < 64; ++step) {
      double sum = 0;
      for (int j = 1; j < k; ++j) {  // umap-learn leaves out the nearest (the row itself in a fit)
        const double excess = d[j] - s.rho[i];
        sum += excess > 0 ? std::exp(-excess / mid) : 1.0;
      }
      if (std::abs(sum - target) < kTolerance) break;
      if (sum > target) {
        hi = mid, mid = (lo + hi) / 2;
      } else {
        lo = mid, mid = std::isinf(hi) ? mid * 2 : (lo + hi) / 2;
      }
    }
    double mean_row = 0;
    for (int j = 0; j < k; ++j) mean_row += d[j];
    mean_row /= k;
    s.sigma[i] = std::max(mid, kMinDistanceScale * (s.rho[i] > 0 ? mean_row : mean_all));
  }
  return s;
}

UmapGraph fuzzy_union_graph(const Neighbours& nn, const SmoothDistances& smooth) {
  // (row, column, strength, transposed) for P and P^T; a pair is in each at most once.
  std::vector<std::tuple<int64_t, int64_t, bool, double>> entries;
  entries.reserve(static_cast<size_t>(2 * nn.n * nn.k));
  for (int64_t i = 0; i < nn.n; ++i)
    for (int c = 0; c < nn.k; ++c) {
      const int64_t j = nn.index[i * nn.k + c];
      if (j == i) continue;
      const double excess = nn.distance[i * nn.k + c] - smooth.rho[i];
      const double p = excess <= 0 || smooth.sigma[i] == 0 ? 1.0 : std::exp(-excess / smooth.sigma[i]);
      if (p <= 0) continue;
      entries.emplace_back(i, j, false, p);
      entries.emplace_back(j, i, true, p);
    }
  std::sort(entries.begin(), entries.end());
  UmapGraph g;
  g.n = nn.n;
  for (size_t e = 0; e < entries.size(); ++e) {
    const int64_t i = std::get<0>(entries[e]), j = std::get<1>(entries[e]);
    const double p = std::get<3>(entries[e]);
    double w = p;
    if (e + 1 < entries.size() && std::get<0>(entries[e + 1]) == i && std::get<1>(entries[e + 1]) == j) {
      const double q = std::get<3>(entries[++e]);
      w = p + q - p * q;
    }
    g.head.push_back(i), g.tail.push_back(j), g.weight.push_back(w);
  }
  return g;
}

}  // namespace wsi
