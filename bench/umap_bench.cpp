// `wsi-mpi umap`'s algorithm alone, for bench/umap.sh: reads N x D float32 rows (raw, row-major),
// runs umap_fit with the tutorial's parameters and `--threads` for the neighbour search, writes
// the N x 3 embedding (raw float32) and prints "seconds <fit seconds>".
//   umap_bench ROWS.f32 N D OUT.f32 [--threads T]
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "wsi/embed/umap.hpp"

int main(int argc, char** argv) {
  if (argc < 5) {
    std::cerr << "usage: umap_bench ROWS.f32 N D OUT.f32 [--threads T]\n";
    return 2;
  }
  const int64_t n = std::atoll(argv[2]), dim = std::atoll(argv[3]);
  wsi::UmapParameters p;  // n_neighbors 10, 3 components, manhattan, spread 0.5, min_dist 0.1, seed 2
  if (argc == 7 && std::string(argv[5]) == "--threads") p.threads = std::atoi(argv[6]);
  std::vector<float> rows(static_cast<size_t>(n * dim));
  std::ifstream in(argv[1], std::ios::binary);
  if (n <= 0 || dim <= 0 || !in.read(reinterpret_cast<char*>(rows.data()), static_cast<std::streamsize>(rows.size() * 4))) {
    std::cerr << argv[1] << ": cannot read " << n << " x " << dim << " float32 rows\n";
    return 2;
  }
  const auto start = std::chrono::steady_clock::now();
  const std::vector<float> embedding = wsi::umap_fit(rows.data(), n, dim, p);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::ofstream(argv[4], std::ios::binary)
      .write(reinterpret_cast<const char*>(embedding.data()), static_cast<std::streamsize>(embedding.size() * 4));
  std::cout << "seconds " << seconds << std::endl;
  return 0;
}
