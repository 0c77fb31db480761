// UMAP (McInnes, Healy, Melville 2018) of feature rows, written from the paper and umap-learn's
// documented behaviour: k-nearest neighbours (exact up to 4,096 rows, random projection trees and
// neighbour descent above, as umap-learn), smooth k-NN distances, the fuzzy union of
// the neighbour graph, a spectral initialisation (Spectra) and umap-learn's SGD with negative
// sampling; `transform` places new rows into a fitted embedding. Plain C++: features in,
// embedding out (no MPI, no files). Deterministic: the same rows, parameters and seed give the
// same bits whatever the thread count (the neighbours do not depend on how the work was split, the
// SGD runs sequentially on one seeded random stream).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace wsi {

enum class UmapMetric { manhattan, euclidean, cosine };
UmapMetric parse_umap_metric(const std::string& name);  // throws std::invalid_argument
const char* umap_metric_name(UmapMetric metric);

struct UmapParameters {
  int n_neighbors = 10;  // counting the row itself, as umap-learn does
  int n_components = 3;
  UmapMetric metric = UmapMetric::manhattan;
  double spread = 0.5, min_dist = 0.1;
  uint64_t seed = 2;
  int threads = 1;  // for the neighbour search only; never changes the result
};
// Throws std::invalid_argument naming the parameter (n_neighbors < 2, n_components < 1 or > 64,
// spread <= 0, min_dist < 0 or > spread x 3, threads < 1).
void check_umap_parameters(const UmapParameters& p);

// umap-learn's find_ab_params: the least-squares fit of 1 / (1 + a x^(2b)) to the curve that is 1
// below min_dist and exp(-(x - min_dist) / spread) above, on 300 points over [0, 3 spread]
// (Levenberg-Marquardt from a = b = 1, as scipy's curve_fit).
struct UmapCurve {
  double a = 0, b = 0;
};
UmapCurve fit_umap_curve(double spread, double min_dist);

// The k nearest rows of each query row (the rows themselves included when queries are the data),
// nearest first, ties by index; n x k indices and distances. Exact (brute force) for a transform
// and for a fit of up to 4,096 rows; a fit (queries == data) of more rows is approximate: random
// projection trees, then neighbour descent (NN-descent) until a round changes under 1 in 1,000
// entries (recall about 0.99 in the unit test). The same bits on any thread count either way.
struct Neighbours {
  int64_t n = 0;
  int k = 0;
  std::vector<int64_t> index;
  std::vector<float> distance;
};
// queries: nq x dim; data: nd x dim; k <= nd.
Neighbours nearest_neighbours(const float* queries, int64_t nq, const float* data, int64_t nd, int64_t dim, int k,
                              UmapMetric metric, int threads);

// smooth_knn_dist: per row rho (the distance to the nearest neighbour at a positive distance;
// 0 when local_connectivity is 0, as transform uses) and sigma, by 64 steps of bisection, so that
// sum over neighbours 2..k of exp(-max(d - rho, 0) / sigma) = log2(k); sigma is at least 1e-3
// times the mean neighbour distance of the row (of all rows when rho is 0).
struct SmoothDistances {
  std::vector<double> rho, sigma;
};
SmoothDistances smooth_knn_distances(const Neighbours& nn, bool local_connectivity);

// The fuzzy simplicial set of a fit: P + P^T - P .* P^T of the membership strengths
// exp(-(d - rho) / sigma), as sorted (row, column) edges with their weight; no self edges.
struct UmapGraph {
  int64_t n = 0;
  std::vector<int64_t> head, tail;
  std::vector<double> weight;
};
UmapGraph fuzzy_union_graph(const Neighbours& nn, const SmoothDistances& smooth);

// The initial layout (n x n_components, row-major): the eigenvectors 1..n_components of the
// normalised Laplacian of `graph` (Spectra, start vector of ones), scaled to max |x| = 10, plus
// Gaussian noise of sd 1e-4, each column rescaled to [0, 10]. A graph in up to 2 n_components
// pieces is laid out piece by piece as umap-learn does (each piece's own spectral layout around
// +-e_k); one in more pieces, or whose eigen solve fails, gets umap-learn's random layout instead
// (uniform in [-10, 10]); `spectral` says whether the spectral one was used.
std::vector<float> initial_layout(const UmapGraph& graph, int n_components, uint64_t seed, bool* spectral = nullptr);

// umap-learn's optimize_layout_euclidean, on `layout` (n x dim) in place. For a fit `fixed` is
// null and both ends of an edge move; for a transform the tails are rows of `fixed` (n_fixed x
// dim), which stay put, and negative samples are drawn from them.
struct LayoutSchedule {
  int epochs = 0;
  double learning_rate = 1.0;
  int negative_sample_rate = 5;
};
void optimise_layout(std::vector<float>& layout, int dim, const UmapGraph& graph, const UmapCurve& curve,
                     const LayoutSchedule& schedule, uint64_t seed, const float* fixed = nullptr,
                     int64_t n_fixed = 0);

// fit_transform: n x n_components, row-major. Rows fewer than n_neighbors use all rows as
// neighbours (k = n); 500 epochs up to 10,000 rows, 200 above.
std::vector<float> umap_fit(const float* rows, int64_t n, int64_t dim, const UmapParameters& p);

// transform: `rows` (n x dim) into the embedding `fitted` (fit_n x n_components) of `fit_rows`
// (fit_n x dim): n_neighbors nearest fitted rows, memberships without rho, the weighted mean of
// their places as the start, then 100 epochs (30 above 10,000 rows) at learning rate 1/4 against
// the fixed embedding.
std::vector<float> umap_transform(const float* rows, int64_t n, const float* fit_rows, const float* fitted,
                                  int64_t fit_n, int64_t dim, const UmapParameters& p);

// Independent random streams of one seed (splitmix64 of the seed and the stream number): the
// per-slide seeds of a cohort, the sample's.
uint64_t umap_stream_seed(uint64_t seed, uint64_t stream);
// `size` distinct indices of [0, population), ascending, drawn uniformly by selection sampling
// (Knuth's algorithm S) from `seed`; all of them when size >= population.
std::vector<int64_t> umap_sample(int64_t population, int64_t size, uint64_t seed);

}  // namespace wsi
