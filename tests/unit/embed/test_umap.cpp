// UMAP (wsi/embed/umap.hpp) on hand-made data: the curve fit against umap-learn's numbers, smooth
// k-NN distances on a tiny case, the fuzzy union, determinism over thread counts, and clusters
// that stay apart. (Against umap-learn itself on a synthetic cohort: tests/e2e/umap.py.)
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <random>
#include <stdexcept>
#include <vector>

#include "wsi/embed/umap.hpp"

using namespace wsi;

namespace {

// n rows of dim values around `clusters` centres far apart (|x| of Gaussians, as ReLU features).
std::vector<float> clustered_rows(int n, int dim, int clusters, std::vector<int>* labels = nullptr) {
  std::mt19937 rng(7);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> centres(static_cast<size_t>(clusters * dim));
  for (float& c : centres) c = 8.0f * std::abs(normal(rng));
  std::vector<float> rows;
  for (int i = 0; i < n; ++i) {
    const int c = i % clusters;
    if (labels) labels->push_back(c);
    for (int d = 0; d < dim; ++d) rows.push_back(centres[c * dim + d] + normal(rng));
  }
  return rows;
}

// The k nearest of each query by brute force in double precision: (distance, index) ascending.
std::vector<std::vector<int64_t>> brute_force(const std::vector<float>& queries, const std::vector<float>& data, int dim,
                                              int k) {
  const size_t nq = queries.size() / dim, nd = data.size() / dim;
  std::vector<std::vector<int64_t>> out(nq);
  for (size_t q = 0; q < nq; ++q) {
    std::vector<std::pair<double, int64_t>> all(nd);
    for (size_t j = 0; j < nd; ++j) {
      double d = 0;
      for (int i = 0; i < dim; ++i) d += std::abs(double(queries[q * dim + i]) - data[j * dim + i]);
      all[j] = {d, static_cast<int64_t>(j)};
    }
    std::partial_sort(all.begin(), all.begin() + k, all.end());
    for (int c = 0; c < k; ++c) out[q].push_back(all[c].second);
  }
  return out;
}

// The share of brute_force's neighbours that `nn` found.
double recall(const Neighbours& nn, const std::vector<std::vector<int64_t>>& truth) {
  int64_t found = 0;
  for (int64_t q = 0; q < nn.n; ++q)
    for (int c = 0; c < nn.k; ++c)
      found += std::count(truth[q].begin(), truth[q].end(), nn.index[q * nn.k + c]);
  return static_cast<double>(found) / static_cast<double>(nn.n * nn.k);
}

}  // namespace

TEST_CASE("UMAP's a and b fit umap-learn's find_ab_params", "[umap]") {
  // umap.umap_.find_ab_params(0.5, 0.1) and (1.0, 0.1), umap-learn 0.5.3 (scipy's curve_fit).
  const UmapCurve tutorial = fit_umap_curve(0.5, 0.1);
  CHECK(tutorial.a == Approx(5.069309326898491).epsilon(1e-4));
  CHECK(tutorial.b == Approx(1.0030054225782272).epsilon(1e-4));
  const UmapCurve plain = fit_umap_curve(1.0, 0.1);
  CHECK(plain.a == Approx(1.5769434601962196).epsilon(1e-4));
  CHECK(plain.b == Approx(0.8950608779914887).epsilon(1e-4));
}

TEST_CASE("UMAP neighbours are exact, nearest first, ties by index", "[umap]") {
  // Points on a line at 0, 1, 3, 4 (and 4 again): manhattan = euclidean here.
  const std::vector<float> x = {0, 1, 3, 4, 4};
  const Neighbours nn = nearest_neighbours(x.data(), 5, x.data(), 5, 1, 3, UmapMetric::manhattan, 2);
  CHECK(nn.index == std::vector<int64_t>{0, 1, 2, 1, 0, 2, 2, 3, 4, 3, 4, 2, 3, 4, 2});
  CHECK(nn.distance[2] == 3.0f);
  const std::vector<float> y = {1, 0, 0, 2, 1, 0, -1, 0};  // cosine: rows 0 and 1 point alike
  const Neighbours cosine = nearest_neighbours(y.data(), 4, y.data(), 4, 2, 2, UmapMetric::cosine, 1);
  CHECK(cosine.index[1] == 2);
  CHECK(cosine.distance[1] == Approx(0.0).margin(1e-6));
  CHECK_THROWS_AS(nearest_neighbours(x.data(), 5, x.data(), 5, 1, 6, UmapMetric::manhattan, 1), std::invalid_argument);
}

TEST_CASE("UMAP neighbours up to 4096 rows are exact for any row length and thread count", "[umap]") {
  const int dim = 37;  // not a multiple of the 8 lanes
  const std::vector<float> data = clustered_rows(700, dim, 5), queries = clustered_rows(90, dim, 3);
  const Neighbours fit = nearest_neighbours(data.data(), 700, data.data(), 700, dim, 10, UmapMetric::manhattan, 1);
  CHECK(recall(fit, brute_force(data, data, dim, 10)) == 1.0);
  const Neighbours fit3 = nearest_neighbours(data.data(), 700, data.data(), 700, dim, 10, UmapMetric::manhattan, 3);
  CHECK(fit3.index == fit.index);
  CHECK(fit3.distance == fit.distance);
  std::vector<float> copy(data);  // a transform of the same rows: computed the other way, the same lists
  const Neighbours transform = nearest_neighbours(copy.data(), 700, data.data(), 700, dim, 10, UmapMetric::manhattan, 2);
  CHECK(transform.index == fit.index);
  CHECK(transform.distance == fit.distance);
  const Neighbours placed = nearest_neighbours(queries.data(), 90, data.data(), 700, dim, 10, UmapMetric::manhattan, 2);
  CHECK(recall(placed, brute_force(queries, data, dim, 10)) == 1.0);
}

TEST_CASE("UMAP neighbours of a fit over 4096 rows are approximate and close, on any thread count", "[umap]") {
  const int dim = 16, n = 4500;
  const std::vector<float> data = clustered_rows(n, dim, 12);
  const Neighbours one = nearest_neighbours(data.data(), n, data.data(), n, dim, 10, UmapMetric::manhattan, 1);
  const Neighbours three = nearest_neighbours(data.data(), n, data.data(), n, dim, 10, UmapMetric::manhattan, 3);
  CHECK(three.index == one.index);
  CHECK(three.distance == one.distance);
  const double found = recall(one, brute_force(data, data, dim, 10));
  INFO("recall " << found);
  CHECK(found > 0.95);
  for (int64_t i = 0; i < n; ++i) {
    CHECK(one.index[i * 10] == i);  // every row is its own nearest, as in the exact search
    CHECK(std::is_sorted(one.distance.begin() + i * 10, one.distance.begin() + (i + 1) * 10));
  }
}

TEST_CASE("smooth k-NN distances meet log2(k) and the minimum scale", "[umap]") {
  Neighbours nn;
  nn.n = 2, nn.k = 4;
  nn.index = {0, 1, 2, 3, 1, 0, 2, 3};
  nn.distance = {0, 1, 2, 3, 0, 0, 0, 0};  // row 1: every neighbour at distance 0
  const SmoothDistances s = smooth_knn_distances(nn, true);
  CHECK(s.rho[0] == 1.0);
  double sum = 0;
  for (int j = 1; j < 4; ++j) sum += std::exp(-std::max(0.0, nn.distance[j] - s.rho[0]) / s.sigma[0]);
  CHECK(sum == Approx(2.0).margin(1e-4));  // log2(4)
  CHECK(s.rho[1] == 0.0);
  CHECK(s.sigma[1] == Approx(1e-3 * 6.0 / 8.0));  // 1e-3 x the mean of all distances
  const SmoothDistances transform = smooth_knn_distances(nn, false);
  CHECK(transform.rho[0] == 0.0);
}

TEST_CASE("the fuzzy union is symmetric: p + q - pq", "[umap]") {
  Neighbours nn;
  nn.n = 3, nn.k = 2;
  nn.index = {0, 1, 1, 2, 2, 0};
  nn.distance = {0, 1, 0, 1, 0, 1};
  SmoothDistances s;
  s.rho = {1, 1, 1};
  s.sigma = {1, 1, 1};
  const UmapGraph g = fuzzy_union_graph(nn, s);  // every membership is 1 (d - rho = 0)
  CHECK(g.head == std::vector<int64_t>{0, 0, 1, 1, 2, 2});
  CHECK(g.tail == std::vector<int64_t>{1, 2, 0, 2, 0, 1});
  for (const double w : g.weight) CHECK(w == 1.0);
}

TEST_CASE("a graph in two pieces starts spectral, each piece around its own place", "[umap]") {
  // Two cliques of 30 vertices, no edge between them: pieces at +e_0 and -e_0.
  UmapGraph g;
  g.n = 60;
  for (int64_t i = 0; i < 60; ++i)
    for (int64_t j = 0; j < 60; ++j)
      if (i != j && i / 30 == j / 30) g.head.push_back(i), g.tail.push_back(j), g.weight.push_back(0.5 + (i + j) % 7 / 14.0);
  bool spectral = false;
  const std::vector<float> layout = initial_layout(g, 3, 2, &spectral);
  CHECK(spectral);
  double first = 0, second = 0;
  for (int64_t i = 0; i < 60; ++i) (i < 30 ? first : second) += layout[i * 3] / 30.0;
  CHECK(first > second + 3.0);  // column 0 rescaled to [0, 10]: the places 1 and -1 are 5 apart
  for (const float v : layout) CHECK((v >= 0.0f && v <= 10.0f));
}

TEST_CASE("UMAP gives the same bits for the same seed, whatever the thread count", "[umap]") {
  const std::vector<float> rows = clustered_rows(300, 16, 3);
  UmapParameters p;
  p.threads = 1;
  const std::vector<float> one = umap_fit(rows.data(), 300, 16, p);
  p.threads = 3;
  CHECK(umap_fit(rows.data(), 300, 16, p) == one);
  p.seed = 3;
  CHECK(umap_fit(rows.data(), 300, 16, p) != one);
  REQUIRE(one.size() == 300 * 3);
}

TEST_CASE("well-separated clusters stay separated, in a fit and a transform", "[umap]") {
  std::vector<int> labels;
  const int n = 600, dim = 32;
  const std::vector<float> rows = clustered_rows(n, dim, 4, &labels);
  UmapParameters p;
  const std::vector<float> e = umap_fit(rows.data(), n, dim, p);
  // Every point's nearest embedded neighbour belongs to its own cluster.
  const auto nearest_label_agrees = [&](const std::vector<float>& emb, int count) {
    int agree = 0;
    for (int i = 0; i < count; ++i) {
      int best = -1;
      double best_d = INFINITY;
      for (int j = 0; j < count; ++j) {
        double d = 0;
        for (int c = 0; c < 3; ++c) d += std::pow(emb[i * 3 + c] - emb[j * 3 + c], 2);
        if (j != i && d < best_d) best_d = d, best = j;
      }
      agree += labels[best] == labels[i];
    }
    return agree;
  };
  CHECK(nearest_label_agrees(e, n) == n);
  // Transform the second half into a fit of the first: the same holds over all rows.
  const int half = n / 2;
  std::vector<float> both = umap_fit(rows.data(), half, dim, p);
  const std::vector<float> placed = umap_transform(rows.data() + half * dim, n - half, rows.data(), both.data(), half, dim, p);
  both.insert(both.end(), placed.begin(), placed.end());
  CHECK(nearest_label_agrees(both, n) == n);
}

TEST_CASE("UMAP handles tiny inputs and refuses bad parameters", "[umap]") {
  const std::vector<float> rows = clustered_rows(5, 4, 2);
  UmapParameters p;  // n_neighbors 10 > 5 rows: every row a neighbour of every other
  const std::vector<float> e = umap_fit(rows.data(), 5, 4, p);
  CHECK(e.size() == 15);
  for (const float v : e) CHECK(std::isfinite(v));
  CHECK(umap_fit(rows.data(), 1, 4, p).size() == 3);
  p.n_neighbors = 1;
  CHECK_THROWS_AS(umap_fit(rows.data(), 5, 4, p), std::invalid_argument);
  p.n_neighbors = 10, p.n_components = 0;
  CHECK_THROWS_AS(check_umap_parameters(p), std::invalid_argument);
  CHECK_THROWS_AS(parse_umap_metric("chebyshev"), std::invalid_argument);
  CHECK(parse_umap_metric("cosine") == UmapMetric::cosine);
}

TEST_CASE("the cohort sample is reproducible, distinct and ascending", "[umap]") {
  const std::vector<int64_t> a = umap_sample(1000, 100, 5);
  CHECK(a == umap_sample(1000, 100, 5));
  CHECK(a.size() == 100);
  for (size_t i = 1; i < a.size(); ++i) CHECK(a[i - 1] < a[i]);
  CHECK(umap_sample(10, 100, 5).size() == 10);
}
