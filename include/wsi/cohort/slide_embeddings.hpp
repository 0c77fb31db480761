// Slide embeddings in a cohort file (`wsi-mpi aggregate`): /slides/embeddings/<name> (S x E
// float32, attribute `model`) and its done flags /progress/embeddings/<name> (S uint8). A row is
// written, flushed, and only then flagged done, as the run does with its units, so a killed
// aggregate resumes with every flagged row intact.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "wsi/comm/comm.hpp"
#include "wsi/grid/tile_grid.hpp"

namespace wsi {

// Thread-safety: none; one thread per rank.
class SlideEmbeddingFile {
 public:
  // Collective. Opens the cohort file `path` for writing the embeddings `name` of size `size`
  // made by `model` (e.g. "mean", or a slide encoder's file and SHA-256). Creates them when
  // absent (the only metadata change; flushed at once). Existing ones made by another model or
  // of another size are refused (std::invalid_argument naming both): choose another name.
  static SlideEmbeddingFile open(const std::string& path, const std::string& name, int64_t size,
                                 const std::string& model, const Comm& comm);
  ~SlideEmbeddingFile();
  SlideEmbeddingFile(SlideEmbeddingFile&&) noexcept;
  SlideEmbeddingFile& operator=(SlideEmbeddingFile&&) noexcept;

  std::vector<uint8_t> done() const;  // one flag per slide, as on disk at open
  // Independent: tile rows [first, first + count) of /tiles/features (count x D, as float32) and
  // /tiles/bounds.
  std::vector<float> read_features(int64_t first, int64_t count) const;
  std::vector<TileBounds> read_bounds(int64_t first, int64_t count) const;
  int64_t feature_size() const;
  // Collective: every rank passes its own slides (possibly none) and their rows (size values
  // each, in the same order); rows, flush, done flags, flush.
  void write(const std::vector<int64_t>& slides, const std::vector<float>& rows);
  void close();  // collective

 private:
  struct Impl;
  explicit SlideEmbeddingFile(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace wsi
