// UMAP's neighbour graph (see wsi/embed/umap.hpp): the curve fit, exact neighbours, smooth k-NN
// distances and the fuzzy union.
#include <algorithm>
#include <cmath>
#include <limits>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <tuple>

#include "wsi/embed/umap.hpp"

namespace wsi {
namespace {

// The distance of two rows of `dim` values. Manhattan and squared Euclidean sum in 8 partial
// sums (vectorised by the compiler, the same order on every run); cosine takes pre-normalised
// rows. A template, so that the inner loop holds no branch on the metric.
template <UmapMetric M>
float term(float a, float b) {
  if constexpr (M == UmapMetric::manhattan) return std::abs(a - b);
  if constexpr (M == UmapMetric::euclidean) return (a - b) * (a - b);
  return a * b;  // cosine: the dot product of unit rows
}

template <UmapMetric M>
float row_distance(const float* x, const float* y, int64_t dim) {
  float partial[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= dim; i += 8)
    for (int l = 0; l < 8; ++l) partial[l] += term<M>(x[i + l], y[i + l]);
  for (; i < dim; ++i) partial[i % 8] += term<M>(x[i], y[i]);
  const float sum = ((partial[0] + partial[1]) + (partial[2] + partial[3])) +
                    ((partial[4] + partial[5]) + (partial[6] + partial[7]));
  if constexpr (M == UmapMetric::manhattan) return sum;
  if constexpr (M == UmapMetric::euclidean) return std::sqrt(sum);
  return std::max(0.0f, 1.0f - sum);
}

// Rows scaled to unit length (a zero row stays zero: cosine distance 1 to everything else).
std::vector<float> unit_rows(const float* rows, int64_t n, int64_t dim) {
  std::vector<float> out(rows, rows + n * dim);
  for (int64_t r = 0; r < n; ++r) {
    double norm = 0;
    for (int64_t i = 0; i < dim; ++i) norm += static_cast<double>(out[r * dim + i]) * out[r * dim + i];
    if (norm > 0)
      for (int64_t i = 0; i < dim; ++i) out[r * dim + i] = static_cast<float>(out[r * dim + i] / std::sqrt(norm));
  }
  return out;
}

template <UmapMetric M>
void search_rows(int64_t first, int64_t last, const float* queries, const float* data, int64_t nd, int64_t dim,
                 Neighbours& out) {
  std::vector<std::pair<float, int64_t>> all(static_cast<size_t>(nd));
  const int k = out.k;
  for (int64_t q = first; q < last; ++q) {
    for (int64_t j = 0; j < nd; ++j) all[j] = {row_distance<M>(queries + q * dim, data + j * dim, dim), j};
    std::partial_sort(all.begin(), all.begin() + k, all.end());  // pairs: ties by index
    for (int c = 0; c < k; ++c) {
      out.index[q * k + c] = all[c].second;
      out.distance[q * k + c] = all[c].first;
    }
  }
}

// Rows [first, last) of the queries, for the metric.
void search_block(int64_t first, int64_t last, const float* queries, const float* data, int64_t nd, int64_t dim,
                  UmapMetric metric, Neighbours& out) {
  switch (metric) {
    case UmapMetric::manhattan: return search_rows<UmapMetric::manhattan>(first, last, queries, data, nd, dim, out);
    case UmapMetric::euclidean: return search_rows<UmapMetric::euclidean>(first, last, queries, data, nd, dim, out);
    case UmapMetric::cosine: return search_rows<UmapMetric::cosine>(first, last, queries, data, nd, dim, out);
  }
}

}  // namespace

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

Neighbours nearest_neighbours(const float* queries, int64_t nq, const float* data, int64_t nd, int64_t dim, int k,
                              UmapMetric metric, int threads) {
  if (k < 1 || k > nd) throw std::invalid_argument("nearest neighbours: k must be in 1.." + std::to_string(nd));
  Neighbours out;
  out.n = nq, out.k = k;
  out.index.resize(static_cast<size_t>(nq * k));
  out.distance.resize(static_cast<size_t>(nq * k));
  std::vector<float> unit_queries, unit_data;
  if (metric == UmapMetric::cosine) {
    unit_queries = unit_rows(queries, nq, dim), unit_data = unit_rows(data, nd, dim);
    queries = unit_queries.data(), data = unit_data.data();
  }
  const int64_t blocks = std::max<int64_t>(1, std::min<int64_t>(threads, nq));
  std::vector<std::thread> workers;
  for (int64_t b = 1; b < blocks; ++b)
    workers.emplace_back(search_block, nq * b / blocks, nq * (b + 1) / blocks, queries, data, nd, dim, metric,
                         std::ref(out));
  search_block(0, nq / blocks, queries, data, nd, dim, metric, out);
  for (std::thread& w : workers) w.join();
  return out;
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
