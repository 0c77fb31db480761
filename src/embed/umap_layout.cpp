// UMAP's layout (see wsi/embed/umap.hpp): spectral initialisation (Spectra on Eigen), the SGD of
// umap-learn's optimize_layout_euclidean, and fit / transform over them.
#include <algorithm>
#include <cmath>
#include <numeric>
#include <stdexcept>

#include <Eigen/Dense>
#include <Eigen/SparseCore>
#include <Spectra/MatOp/SparseSymMatProd.h>
#include <Spectra/SymEigsSolver.h>

#include "wsi/embed/umap.hpp"

namespace wsi {
namespace {

// splitmix64: a small seeded stream whose bits are the same on every platform (the standard
// library's distributions are not).
class Random {
 public:
  explicit Random(uint64_t seed) : state_(seed) {}
  uint64_t next() {
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }  // [0, 1)
  // A number in [0, n) by a multiply and a shift (Lemire 2019), not a division: the SGD draws one
  // per negative sample.
  int64_t below(int64_t n) {
    return static_cast<int64_t>((static_cast<unsigned __int128>(next()) * static_cast<uint64_t>(n)) >> 64);
  }
  double normal() {                                                              // Box-Muller
    const double u = 1.0 - uniform(), v = uniform();
    return std::sqrt(-2.0 * std::log(u)) * std::cos(2.0 * M_PI * v);
  }

 private:
  uint64_t state_;
};

// The connected component of each vertex, numbered in the order of their first vertex; `count`
// of them.
std::vector<int64_t> component_labels(const UmapGraph& g, int64_t& count) {
  std::vector<int64_t> parent(static_cast<size_t>(g.n));
  std::iota(parent.begin(), parent.end(), 0);
  const auto root = [&](int64_t v) {
    while (parent[v] != v) v = parent[v] = parent[parent[v]];
    return v;
  };
  for (size_t e = 0; e < g.head.size(); ++e) {
    const int64_t a = root(g.head[e]), b = root(g.tail[e]);
    if (a != b) parent[std::max(a, b)] = std::min(a, b);
  }
  std::vector<int64_t> label(static_cast<size_t>(g.n));
  count = 0;
  for (int64_t v = 0; v < g.n; ++v) label[v] = root(v) == v ? count++ : label[root(v)];
  return label;
}

// The eigenvectors 1..dim of the normalised Laplacian I - D^-1/2 W D^-1/2, as those of the largest
// eigenvalues of D^-1/2 W D^-1/2 (the same vectors; Lanczos finds the large end quickly). Empty
// when the solver does not converge.
Eigen::MatrixXd laplacian_eigenvectors(const UmapGraph& g, int dim) {
  const Eigen::Index n = g.n, nev = dim + 1;
  std::vector<double> degree(static_cast<size_t>(n), 0.0);
  for (size_t e = 0; e < g.head.size(); ++e) degree[g.head[e]] += g.weight[e];
  std::vector<Eigen::Triplet<double>> entries;
  for (size_t e = 0; e < g.head.size(); ++e)
    entries.emplace_back(g.head[e], g.tail[e], g.weight[e] / std::sqrt(degree[g.head[e]] * degree[g.tail[e]]));
  Eigen::SparseMatrix<double> m(n, n);
  m.setFromTriplets(entries.begin(), entries.end());
  Eigen::MatrixXd vectors;
  if (n <= 200) {  // small: a dense solve (Lanczos needs n well above its subspace)
    Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> solver{Eigen::MatrixXd(m)};
    if (solver.info() != Eigen::Success) return {};
    vectors = solver.eigenvectors().rowwise().reverse();  // descending eigenvalues
  } else {
    const Eigen::Index ncv = std::min<Eigen::Index>(n, std::max<Eigen::Index>(2 * nev + 1, std::sqrt(n)));
    Spectra::SparseSymMatProd<double> op(m);
    Spectra::SymEigsSolver<Spectra::SparseSymMatProd<double>> solver(op, nev, ncv);
    const Eigen::VectorXd ones = Eigen::VectorXd::Ones(n);
    solver.init(ones.data());
    solver.compute(Spectra::SortRule::LargestAlge, 5 * n, 1e-4);
    if (solver.info() != Spectra::CompInfo::Successful) return {};
    vectors = solver.eigenvectors();  // descending eigenvalues
  }
  if (vectors.cols() < nev) return {};
  return vectors.middleCols(1, dim);
}

// A graph in several pieces, as umap-learn lays it out: piece i at +e_i, or -e_(i-k) past
// k = ceil(pieces / 2); around it the piece's own spectral layout (uniform noise when it has fewer
// than 2 dim vertices or its solve fails), scaled to half the smallest gap between two places.
// Empty for more than 2 dim pieces (umap-learn then places them by their centroids).
Eigen::MatrixXd piecewise_layout(const UmapGraph& g, const std::vector<int64_t>& label, int64_t pieces, int dim,
                                 Random& random) {
  if (pieces > 2 * dim) return {};
  const int64_t k = (pieces + 1) / 2;
  const double range = (pieces == 2 ? 2.0 : std::sqrt(2.0)) / 2;
  Eigen::MatrixXd out(g.n, dim);
  std::vector<int64_t> local(static_cast<size_t>(g.n));
  for (int64_t p = 0; p < pieces; ++p) {
    Eigen::RowVectorXd place = Eigen::RowVectorXd::Zero(dim);
    place(p < k ? p : p - k) = p < k ? 1.0 : -1.0;
    UmapGraph piece;
    std::vector<int64_t> vertices;
    for (int64_t v = 0; v < g.n; ++v)
      if (label[v] == p) local[v] = piece.n++, vertices.push_back(v);
    for (size_t e = 0; e < g.head.size(); ++e)
      if (label[g.head[e]] == p)
        piece.head.push_back(local[g.head[e]]), piece.tail.push_back(local[g.tail[e]]), piece.weight.push_back(g.weight[e]);
    const Eigen::MatrixXd x = piece.n >= 2 * dim && piece.n > dim + 1 ? laplacian_eigenvectors(piece, dim) : Eigen::MatrixXd();
    const double biggest = x.size() > 0 ? x.cwiseAbs().maxCoeff() : 0.0;
    for (int64_t i = 0; i < piece.n; ++i)
      for (int c = 0; c < dim; ++c)
        out(vertices[i], c) = place(c) + (biggest > 0 ? x(i, c) * range / biggest : range * (2 * random.uniform() - 1));
  }
  return out;
}

// Each column to [0, 10], as umap-learn does before the SGD (a constant column becomes 0).
void rescale_columns(std::vector<float>& layout, int dim) {
  const size_t n = layout.size() / dim;
  for (int c = 0; c < dim; ++c) {
    float lo = INFINITY, hi = -INFINITY;
    for (size_t r = 0; r < n; ++r) lo = std::min(lo, layout[r * dim + c]), hi = std::max(hi, layout[r * dim + c]);
    for (size_t r = 0; r < n; ++r)
      layout[r * dim + c] = hi > lo ? static_cast<float>(10.0 * (layout[r * dim + c] - lo) / (hi - lo)) : 0.0f;
  }
}

// Drops edges below max / epochs: they would not be sampled once in the run.
void prune(UmapGraph& g, int epochs) {
  if (g.weight.empty()) return;
  const double floor = *std::max_element(g.weight.begin(), g.weight.end()) / epochs;
  size_t kept = 0;
  for (size_t e = 0; e < g.weight.size(); ++e)
    if (g.weight[e] >= floor) g.head[kept] = g.head[e], g.tail[kept] = g.tail[e], g.weight[kept++] = g.weight[e];
  g.head.resize(kept), g.tail.resize(kept), g.weight.resize(kept);
}

float clip(double gradient) { return static_cast<float>(std::clamp(gradient, -4.0, 4.0)); }

}  // namespace

uint64_t umap_stream_seed(uint64_t seed, uint64_t stream) {
  return Random(seed ^ (stream * 0xD1B54A32D192ED03ull)).next();
}

std::vector<int64_t> umap_sample(int64_t population, int64_t size, uint64_t seed) {
  std::vector<int64_t> chosen;
  chosen.reserve(static_cast<size_t>(std::max<int64_t>(0, std::min(size, population))));
  Random random(seed);
  for (int64_t i = 0; i < population && static_cast<int64_t>(chosen.size()) < size; ++i)
    if (static_cast<double>(population - i) * random.uniform() < static_cast<double>(size - chosen.size()))
      chosen.push_back(i);
  return chosen;
}

std::vector<float> initial_layout(const UmapGraph& graph, int n_components, uint64_t seed, bool* spectral) {
  const int dim = n_components;
  Random random(umap_stream_seed(seed, 1));
  std::vector<float> layout(static_cast<size_t>(graph.n * dim));
  int64_t pieces = 0;
  const std::vector<int64_t> label = component_labels(graph, pieces);
  Eigen::MatrixXd vectors;
  if (graph.n > dim + 1)
    vectors = pieces == 1 ? laplacian_eigenvectors(graph, dim) : piecewise_layout(graph, label, pieces, dim, random);
  if (spectral) *spectral = vectors.size() > 0;
  if (vectors.size() > 0) {
    const double biggest = vectors.cwiseAbs().maxCoeff();
    const double expansion = biggest > 0 ? 10.0 / biggest : 1.0;
    for (int64_t r = 0; r < graph.n; ++r)
      for (int c = 0; c < dim; ++c)
        layout[r * dim + c] = static_cast<float>(vectors(r, c) * expansion) + static_cast<float>(1e-4 * random.normal());
  } else {
    for (float& v : layout) v = static_cast<float>(-10.0 + 20.0 * random.uniform());
  }
  rescale_columns(layout, dim);
  return layout;
}

void optimise_layout(std::vector<float>& layout, int dim, const UmapGraph& graph, const UmapCurve& curve,
                     const LayoutSchedule& schedule, uint64_t seed, const float* fixed, int64_t n_fixed) {
  const size_t edges = graph.weight.size();
  if (edges == 0 || schedule.epochs <= 0) return;
  const double a = curve.a, b = curve.b;
  const float fb = static_cast<float>(b);  // powf: a third of pow's cost, ample for SGD steps
  const double heaviest = *std::max_element(graph.weight.begin(), graph.weight.end());
  std::vector<double> per_sample(edges), next_sample(edges), per_negative(edges), next_negative(edges);
  for (size_t e = 0; e < edges; ++e) {
    per_sample[e] = next_sample[e] = heaviest / graph.weight[e];
    per_negative[e] = next_negative[e] = per_sample[e] / schedule.negative_sample_rate;
  }
  float* tails = fixed ? const_cast<float*>(fixed) : layout.data();
  const int64_t vertices = fixed ? n_fixed : graph.n;
  Random random(umap_stream_seed(seed, 2));
  double alpha = schedule.learning_rate;
  for (int epoch = 0; epoch < schedule.epochs; ++epoch) {
    for (size_t e = 0; e < edges; ++e) {
      if (next_sample[e] > epoch) continue;
      float* current = &layout[graph.head[e] * dim];
      float* other = tails + graph.tail[e] * dim;
      double d2 = 0;
      for (int d = 0; d < dim; ++d) d2 += double(current[d] - other[d]) * (current[d] - other[d]);
      const double d2b = d2 > 0 ? std::pow(static_cast<float>(d2), fb) : 0.0;  // d2^(b-1) = d2^b / d2: one pow
      const double attract = d2 > 0 ? -2.0 * a * b * (d2b / d2) / (a * d2b + 1.0) : 0.0;
      for (int d = 0; d < dim; ++d) {
        const float g = clip(attract * (current[d] - other[d]));
        current[d] += static_cast<float>(g * alpha);
        if (!fixed) other[d] -= static_cast<float>(g * alpha);
      }
      next_sample[e] += per_sample[e];
      const auto negatives = static_cast<int64_t>((epoch - next_negative[e]) / per_negative[e]);
      for (int64_t p = 0; p < negatives; ++p) {
        const auto k = random.below(vertices);
        const float* far = tails + k * dim;
        double f2 = 0;
        for (int d = 0; d < dim; ++d) f2 += double(current[d] - far[d]) * (current[d] - far[d]);
        if (!(f2 > 0) && !fixed && k == graph.head[e]) continue;
        const double repel = f2 > 0 ? 2.0 * b / ((0.001 + f2) * (a * std::pow(static_cast<float>(f2), fb) + 1.0)) : 0.0;
        for (int d = 0; d < dim; ++d)
          current[d] += static_cast<float>((repel > 0 ? clip(repel * (current[d] - far[d])) : 4.0f) * alpha);
      }
      next_negative[e] += static_cast<double>(negatives) * per_negative[e];
    }
    alpha = schedule.learning_rate * (1.0 - static_cast<double>(epoch) / schedule.epochs);
  }
}

std::vector<float> umap_fit(const float* rows, int64_t n, int64_t dim, const UmapParameters& p) {
  check_umap_parameters(p);
  if (n <= 0) return {};
  const int k = static_cast<int>(std::min<int64_t>(p.n_neighbors, n));
  const Neighbours nn = nearest_neighbours(rows, n, rows, n, dim, k, p.metric, p.threads);
  UmapGraph graph = fuzzy_union_graph(nn, smooth_knn_distances(nn, true));
  LayoutSchedule schedule;
  schedule.epochs = n <= 10000 ? 500 : 200;
  prune(graph, schedule.epochs);
  std::vector<float> layout = initial_layout(graph, p.n_components, p.seed);
  optimise_layout(layout, p.n_components, graph, fit_umap_curve(p.spread, p.min_dist), schedule, p.seed);
  return layout;
}

std::vector<float> umap_transform(const float* rows, int64_t n, const float* fit_rows, const float* fitted,
                                  int64_t fit_n, int64_t dim, const UmapParameters& p) {
  check_umap_parameters(p);
  if (n <= 0) return {};
  if (fit_n <= 0) throw std::invalid_argument("UMAP transform: no fitted rows");
  const int k = static_cast<int>(std::min<int64_t>(p.n_neighbors, fit_n));
  const int c = p.n_components;
  const Neighbours nn = nearest_neighbours(rows, n, fit_rows, fit_n, dim, k, p.metric, p.threads);
  const SmoothDistances smooth = smooth_knn_distances(nn, false);
  UmapGraph graph;
  graph.n = n;
  std::vector<float> layout(static_cast<size_t>(n * c), 0.0f);
  for (int64_t i = 0; i < n; ++i) {
    std::vector<double> mean(static_cast<size_t>(c), 0.0);
    double total = 0;
    for (int j = 0; j < k; ++j) {
      const int64_t t = nn.index[i * k + j];
      const double d = nn.distance[i * k + j];
      const double w = d <= 0 || smooth.sigma[i] == 0 ? 1.0 : std::exp(-d / smooth.sigma[i]);
      if (!(w > 0)) continue;
      graph.head.push_back(i), graph.tail.push_back(t), graph.weight.push_back(w);
      for (int col = 0; col < c; ++col) mean[col] += w * fitted[t * c + col];
      total += w;
    }
    for (int col = 0; col < c; ++col) layout[i * c + col] = total > 0 ? static_cast<float>(mean[col] / total) : 0.0f;
  }
  LayoutSchedule schedule;
  schedule.epochs = n <= 10000 ? 100 : 30;
  schedule.learning_rate = 0.25;
  prune(graph, schedule.epochs);
  optimise_layout(layout, c, graph, fit_umap_curve(p.spread, p.min_dist), schedule, p.seed, fitted, fit_n);
  return layout;
}

}  // namespace wsi
