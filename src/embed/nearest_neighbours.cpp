// UMAP's k-nearest-neighbour search (see wsi/embed/umap.hpp).
// Exact (brute force) up to 4,096 data rows and for a transform, shaped for the memory hierarchy:
// rows compared in blocks that stay in cache, four at a time (four independent sums keep the
// adder busy); a fit computes each pair once and offers it to both rows.
// Approximate for a fit of more rows (the exact one grows with the square of the rows): random
// projection trees give each row first candidates (the rows of its leaves), then rounds of
// neighbour descent (NN-descent: a neighbour of a neighbour is likely a neighbour) improve them,
// as umap-learn's pynndescent does.
// The same bits whatever the thread count or instruction set: every distance is summed in one
// order (8 partial sums in a fixed tree), the trees come from seeded streams, each descent round
// reads only the previous round's lists, and a row's k nearest are the k smallest of what it was
// offered in the total order (distance, index), whichever thread offered them.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <numeric>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>

#include "wsi/embed/umap.hpp"

namespace wsi {
namespace {

// Eight lanes of floats (GCC's vector extension: one AVX register, or two SSE ones). Lane l sums
// the terms of elements l, l + 8, l + 16, ... in order, so every instruction set gets the same sums.
// (GCC notes that passing such a vector without AVX has another ABI: these helpers are internal
// and always inlined, so no call passes one.)
#pragma GCC diagnostic ignored "-Wpsabi"
typedef float Lanes __attribute__((vector_size(32)));
typedef int32_t LaneBits __attribute__((vector_size(32)));

[[gnu::always_inline]] inline Lanes load(const float* p) {
  Lanes v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

template <UmapMetric M, typename T>
[[gnu::always_inline]] inline T term(T a, T b) {
  if constexpr (M == UmapMetric::manhattan) {
    if constexpr (std::is_same_v<T, Lanes>) return reinterpret_cast<Lanes>(reinterpret_cast<LaneBits>(a - b) & 0x7fffffff);
    else return std::abs(a - b);
  }
  if constexpr (M == UmapMetric::euclidean) return (a - b) * (a - b);
  return a * b;  // cosine: the dot product of unit rows
}

template <UmapMetric M>
[[gnu::always_inline]] inline float finish(Lanes p) {
  const float sum = ((p[0] + p[1]) + (p[2] + p[3])) + ((p[4] + p[5]) + (p[6] + p[7]));  // the fixed tree
  if constexpr (M == UmapMetric::manhattan) return sum;
  if constexpr (M == UmapMetric::euclidean) return std::sqrt(sum);
  return std::max(0.0f, 1.0f - sum);
}

// Distances of row x to Count consecutive rows starting at y (separate sums: no waiting on one
// adder); with `Finish` false the plain sums of the terms (a dot product for cosine).
template <UmapMetric M, int Count, bool Finish = true>
[[gnu::always_inline]] inline void distances(const float* x, const float* y, int64_t dim, float* out) {
  Lanes sum[Count] = {};
  int64_t i = 0;
  for (; i + 8 <= dim; i += 8) {
    const Lanes xi = load(x + i);
    for (int r = 0; r < Count; ++r) sum[r] += term<M>(xi, load(y + r * dim + i));
  }
  for (; i < dim; ++i)
    for (int r = 0; r < Count; ++r) sum[r][i % 8] += term<M>(x[i], y[r * dim + i]);
  for (int r = 0; r < Count; ++r) {
    const Lanes p = sum[r];
    out[r] = Finish ? finish<M>(p) : ((p[0] + p[1]) + (p[2] + p[3])) + ((p[4] + p[5]) + (p[6] + p[7]));
  }
}

// The k nearest (distance, index) pairs offered so far for each of n rows, nearest first; a pair
// offered again is kept once.
class Candidates {
 public:
  Candidates(int64_t n, int k)
      : k_(k), size_(static_cast<size_t>(n)), distance_(static_cast<size_t>(n * k)), index_(static_cast<size_t>(n * k)) {}
  // Whether the pair entered the row's list.
  bool offer(int64_t row, float d, int64_t j) {
    float* dist = &distance_[row * k_];
    int64_t* idx = &index_[row * k_];
    int p = size_[row];
    if (p == k_ && !before(d, j, dist[k_ - 1], idx[k_ - 1])) return false;
    for (int c = 0; c < p; ++c)
      if (idx[c] == j) return false;
    if (p == k_) {
      --p;
    } else {
      ++size_[row];
    }
    for (; p > 0 && before(d, j, dist[p - 1], idx[p - 1]); --p) dist[p] = dist[p - 1], idx[p] = idx[p - 1];
    dist[p] = d, idx[p] = j;
    return true;
  }
  void merge(const Candidates& other) {
    for (int64_t row = 0; row < static_cast<int64_t>(size_.size()); ++row)
      for (int c = 0; c < other.size_[row]; ++c) offer(row, other.distance_[row * k_ + c], other.index_[row * k_ + c]);
  }
  int size(int64_t row) const { return size_[row]; }
  const int64_t* indices(int64_t row) const { return &index_[row * k_]; }
  void copy_to(Neighbours& out) const {
    std::copy(index_.begin(), index_.end(), out.index.begin());
    std::copy(distance_.begin(), distance_.end(), out.distance.begin());
  }

 private:
  static bool before(float d, int64_t j, float other_d, int64_t other_j) {
    return d < other_d || (d == other_d && j < other_j);
  }
  int k_;
  std::vector<int> size_;
  std::vector<float> distance_;
  std::vector<int64_t> index_;
};

// Rows per block: two blocks of rows fit in a 256 KiB cache.
int64_t block_rows(int64_t dim) { return std::clamp<int64_t>(32768 / std::max<int64_t>(dim, 1), 4, 1024); }

// Queries [q0, q1) against data [d0, d1); each pair offered to the query's candidates, and to
// the data row's too when `both` (a fit, where the data rows are queries as well) and j != q.
// `upper`: only pairs with j >= q (a diagonal block of a fit). `ids`: the rows' numbers in the
// candidates when the rows were copied out of order (null: their positions).
template <UmapMetric M>
[[gnu::always_inline]] inline void compare_block(const float* queries, int64_t q0, int64_t q1, const float* data,
                                                 int64_t d0, int64_t d1, int64_t dim, bool both, bool upper,
                                                 const int64_t* ids, Candidates& out) {
  const auto id = [ids](int64_t r) { return ids ? ids[r] : r; };
  float d[4];
  for (int64_t q = q0; q < q1; ++q) {
    for (int64_t j = upper ? std::max(d0, q) : d0; j < d1; j += 4) {
      const int count = static_cast<int>(std::min<int64_t>(4, d1 - j));
      if (count == 4) {
        distances<M, 4>(queries + q * dim, data + j * dim, dim, d);
      } else {
        for (int r = 0; r < count; ++r) distances<M, 1>(queries + q * dim, data + (j + r) * dim, dim, d + r);
      }
      for (int r = 0; r < count; ++r) {
        out.offer(id(q), d[r], id(j + r));
        if (both && j + r != q) out.offer(id(j + r), d[r], id(q));
      }
    }
  }
}

// One clone per instruction set (the wider one where the CPU has it); the sums are the same.
[[gnu::target_clones("avx2", "default")]] void compare(UmapMetric metric, const float* queries, int64_t q0, int64_t q1,
                                                       const float* data, int64_t d0, int64_t d1, int64_t dim,
                                                       bool both, bool upper, const int64_t* ids, Candidates& out) {
  switch (metric) {
    case UmapMetric::manhattan:
      return compare_block<UmapMetric::manhattan>(queries, q0, q1, data, d0, d1, dim, both, upper, ids, out);
    case UmapMetric::euclidean:
      return compare_block<UmapMetric::euclidean>(queries, q0, q1, data, d0, d1, dim, both, upper, ids, out);
    case UmapMetric::cosine:
      return compare_block<UmapMetric::cosine>(queries, q0, q1, data, d0, d1, dim, both, upper, ids, out);
  }
}

[[gnu::target_clones("avx2", "default")]] float dot(const float* x, const float* y, int64_t dim) {
  float sum;
  distances<UmapMetric::cosine, 1, false>(x, y, dim, &sum);
  return sum;
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

// Runs task(t, item) for items 0..items-1 on up to `threads` threads (t: the thread's number),
// items taken in turn from a shared counter.
template <typename Task>
void for_each_item(int64_t items, int threads, const Task& task) {
  threads = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(threads, items)));
  std::atomic<int64_t> next{0};
  const auto work = [&](int t) {
    for (int64_t item; (item = next++) < items;) task(t, item);
  };
  std::vector<std::thread> workers;
  for (int t = 1; t < threads; ++t) workers.emplace_back(work, t);
  work(0);
  for (std::thread& w : workers) w.join();
}

// Candidates filled by task(item, candidates) for every item, each thread into candidates of its
// own, then merged (the merge keeps each row's k smallest, whichever thread found them).
template <typename Task>
Candidates gather(int64_t rows, int k, int64_t items, int threads, const Task& task) {
  std::vector<Candidates> found(static_cast<size_t>(std::max(1, threads)), Candidates(rows, k));
  for_each_item(items, threads, [&](int t, int64_t item) { task(item, found[t]); });
  for (size_t t = 1; t < found.size(); ++t) found[0].merge(found[t]);
  return std::move(found[0]);
}

// Exact: every query block against every data block.
Candidates exact_search(const float* queries, int64_t nq, const float* data, int64_t nd, int64_t dim, int k,
                        UmapMetric metric, int threads) {
  const int64_t rows = block_rows(dim);
  const int64_t query_blocks = (nq + rows - 1) / rows, data_blocks = (nd + rows - 1) / rows;
  if (queries != data) {  // a transform: each query block is one thread's, against every data block in turn
    Candidates found(nq, k);
    for_each_item(query_blocks, threads, [&](int, int64_t b) {
      const int64_t q0 = b * rows, q1 = std::min(nq, q0 + rows);
      for (int64_t d0 = 0; d0 < nd; d0 += rows)
        compare(metric, queries, q0, q1, data, d0, std::min(nd, d0 + rows), dim, false, false, nullptr, found);
    });
    return found;
  }
  std::vector<std::pair<int64_t, int64_t>> pairs;  // a fit: blocks a <= b
  for (int64_t a = 0; a < data_blocks; ++a)
    for (int64_t b = a; b < data_blocks; ++b) pairs.emplace_back(a, b);
  return gather(nd, k, static_cast<int64_t>(pairs.size()), threads, [&](int64_t item, Candidates& found) {
    const auto [a, b] = pairs[item];
    compare(metric, data, a * rows, std::min(nd, (a + 1) * rows), data, b * rows, std::min(nd, (b + 1) * rows), dim,
            true, a == b, nullptr, found);
  });
}

// Above this many data rows a fit's search is approximate (umap-learn's own limit for its exact one).
constexpr int64_t kExactRows = 4096;
constexpr int kTrees = 8;
constexpr size_t kLeafRows = 64;
constexpr int kMaxDescentRounds = 10;

// The leaves of one random projection tree over `rows`: a node splits its rows by the hyperplane
// halfway between two of them drawn from `seed`'s stream, and is halved by position instead when
// one side would get under 1/20 of them (duplicates, or an unlucky draw), so depth stays small.
void grow_leaves(std::vector<int64_t> rows, const float* data, int64_t dim, uint64_t seed, uint64_t& draws,
                 std::vector<std::vector<int64_t>>& leaves) {
  if (rows.size() <= kLeafRows) {
    leaves.push_back(std::move(rows));
    return;
  }
  const uint64_t n = rows.size();
  const uint64_t first = umap_stream_seed(seed, draws++) % n;
  const uint64_t second = (first + 1 + umap_stream_seed(seed, draws++) % (n - 1)) % n;
  const float* x = data + rows[first] * dim;
  const float* y = data + rows[second] * dim;
  std::vector<float> normal(static_cast<size_t>(dim)), middle(static_cast<size_t>(dim));
  for (int64_t i = 0; i < dim; ++i) normal[i] = x[i] - y[i], middle[i] = (x[i] + y[i]) / 2;
  const float offset = dot(normal.data(), middle.data(), dim);
  std::vector<int64_t> left, right;
  for (const int64_t r : rows) (dot(normal.data(), data + r * dim, dim) > offset ? right : left).push_back(r);
  if (std::min(left.size(), right.size()) < n / 20) {
    left.assign(rows.begin(), rows.begin() + static_cast<int64_t>(n / 2));
    right.assign(rows.begin() + static_cast<int64_t>(n / 2), rows.end());
  }
  rows = {};
  grow_leaves(std::move(left), data, dim, seed, draws, leaves);
  grow_leaves(std::move(right), data, dim, seed, draws, leaves);
}

// The lists of every row as a round of neighbour descent starts: each row's k entries (-1: none)
// and its reverse ones (rows whose lists hold it, the first k in row order), each flagged when it
// is new since the round before (NN-descent's rule: a pair of two old entries was already tried).
struct DescentLists {
  std::vector<int64_t> forward, reverse;
  std::vector<char> forward_new, reverse_new;
};

// One round of neighbour descent for rows [first, last): each row is offered the rows in the lists
// of the rows in its own lists, where one of the two entries is new.
template <UmapMetric M>
[[gnu::always_inline]] inline int64_t descend_rows(int64_t first, int64_t last, const float* data, int64_t dim,
                                                   const DescentLists& lists, int k, std::vector<int64_t>& seen,
                                                   Candidates& next) {
  int64_t changes = 0;
  for (int64_t i = first; i < last; ++i) {
    seen[i] = i;
    for (int c = 0; c < k; ++c)
      if (lists.forward[i * k + c] >= 0) seen[lists.forward[i * k + c]] = i;
    const auto offer_lists_of = [&](int64_t u, bool u_new) {
      for (int side = 0; side < 2; ++side)
        for (int c = 0; c < k; ++c) {
          const int64_t v = (side == 0 ? lists.forward : lists.reverse)[u * k + c];
          if (v < 0 || seen[v] == i || !(u_new || (side == 0 ? lists.forward_new : lists.reverse_new)[u * k + c]))
            continue;
          seen[v] = i;
          float d;
          distances<M, 1>(data + i * dim, data + v * dim, dim, &d);
          changes += next.offer(i, d, v);
        }
    };
    for (int c = 0; c < k; ++c) {
      if (lists.forward[i * k + c] >= 0) offer_lists_of(lists.forward[i * k + c], lists.forward_new[i * k + c]);
      if (lists.reverse[i * k + c] >= 0) offer_lists_of(lists.reverse[i * k + c], lists.reverse_new[i * k + c]);
    }
  }
  return changes;
}

[[gnu::target_clones("avx2", "default")]] int64_t descend(UmapMetric metric, int64_t first, int64_t last,
                                                          const float* data, int64_t dim, const DescentLists& lists,
                                                          int k, std::vector<int64_t>& seen, Candidates& next) {
  switch (metric) {
    case UmapMetric::manhattan:
      return descend_rows<UmapMetric::manhattan>(first, last, data, dim, lists, k, seen, next);
    case UmapMetric::euclidean:
      return descend_rows<UmapMetric::euclidean>(first, last, data, dim, lists, k, seen, next);
    case UmapMetric::cosine:
      return descend_rows<UmapMetric::cosine>(first, last, data, dim, lists, k, seen, next);
  }
  return 0;
}

// Approximate neighbours of the n data rows among themselves: the trees' leaves compared pair by
// pair, then descent rounds until one changes under 1 in 1,000 list entries.
Candidates approximate_fit(const float* data, int64_t n, int64_t dim, int k, UmapMetric metric, int threads) {
  std::vector<std::vector<std::vector<int64_t>>> trees(kTrees);
  for_each_item(kTrees, threads, [&](int, int64_t t) {
    std::vector<int64_t> all(static_cast<size_t>(n));
    std::iota(all.begin(), all.end(), int64_t{0});
    uint64_t draws = 0;
    grow_leaves(std::move(all), data, dim, umap_stream_seed(0x7265e5, static_cast<uint64_t>(t)), draws, trees[t]);
  });
  std::vector<const std::vector<int64_t>*> leaves;
  for (const auto& tree : trees)
    for (const auto& leaf : tree) leaves.push_back(&leaf);
  Candidates lists = gather(n, k, static_cast<int64_t>(leaves.size()), threads, [&](int64_t item, Candidates& found) {
    const std::vector<int64_t>& leaf = *leaves[item];
    const auto rows = static_cast<int64_t>(leaf.size());
    std::vector<float> copy(static_cast<size_t>(rows * dim));
    for (int64_t r = 0; r < rows; ++r) std::copy_n(data + leaf[r] * dim, dim, copy.begin() + r * dim);
    compare(metric, copy.data(), 0, rows, copy.data(), 0, rows, dim, true, true, leaf.data(), found);
  });
  constexpr int64_t kChunk = 256;
  DescentLists previous;  // as the last round started (empty before the first: everything is new)
  for (int round = 0; round < kMaxDescentRounds; ++round) {
    DescentLists now{std::vector<int64_t>(static_cast<size_t>(n * k), -1),
                     std::vector<int64_t>(static_cast<size_t>(n * k), -1), std::vector<char>(static_cast<size_t>(n * k)),
                     std::vector<char>(static_cast<size_t>(n * k))};
    std::vector<int> reverse_count(static_cast<size_t>(n), 0);
    for (int64_t i = 0; i < n; ++i)
      for (int c = 0; c < lists.size(i); ++c) {
        const int64_t j = now.forward[i * k + c] = lists.indices(i)[c];
        const int64_t* before = previous.forward.empty() ? nullptr : &previous.forward[i * k];
        const bool fresh = !before || std::find(before, before + k, j) == before + k;
        now.forward_new[i * k + c] = fresh;
        if (j != i && reverse_count[j] < k) {
          now.reverse[j * k + reverse_count[j]] = i;
          now.reverse_new[j * k + reverse_count[j]++] = fresh;
        }
      }
    Candidates next = lists;
    std::vector<int64_t> changes(static_cast<size_t>((n + kChunk - 1) / kChunk));
    std::vector<std::vector<int64_t>> seen(static_cast<size_t>(std::max(1, threads)));
    for_each_item(static_cast<int64_t>(changes.size()), threads, [&](int t, int64_t chunk) {
      if (seen[t].empty()) seen[t].assign(static_cast<size_t>(n), -1);
      changes[chunk] = descend(metric, chunk * kChunk, std::min(n, (chunk + 1) * kChunk), data, dim, now, k, seen[t], next);
    });
    lists = std::move(next);
    previous = std::move(now);
    if (std::accumulate(changes.begin(), changes.end(), int64_t{0}) * 1000 < n * k) break;
  }
  return lists;
}

}  // namespace

Neighbours nearest_neighbours(const float* queries, int64_t nq, const float* data, int64_t nd, int64_t dim, int k,
                              UmapMetric metric, int threads) {
  if (k < 1 || k > nd) throw std::invalid_argument("nearest neighbours: k must be in 1.." + std::to_string(nd));
  const bool fit = queries == data && nq == nd;
  std::vector<float> unit_queries, unit_data;
  if (metric == UmapMetric::cosine) {
    unit_data = unit_rows(data, nd, dim);
    unit_queries = fit ? std::vector<float>() : unit_rows(queries, nq, dim);
    data = unit_data.data(), queries = fit ? data : unit_queries.data();
  }
  Neighbours out;
  out.n = nq, out.k = k;
  out.index.resize(static_cast<size_t>(nq * k));
  out.distance.resize(static_cast<size_t>(nq * k));
  (fit && nd > kExactRows ? approximate_fit(data, nd, dim, k, metric, threads)
                          : exact_search(queries, nq, data, nd, dim, k, metric, threads))
      .copy_to(out);
  return out;
}

}  // namespace wsi
