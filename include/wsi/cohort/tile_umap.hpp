// The UMAP of the tile features in a cohort file (`wsi-mpi umap`): /tiles/umap (N x C float32,
// the rows of /tiles/features; attributes `parameters`, the JSON of the UMAP parameters, and
// `scope`, slide or cohort) and its done flags /progress/umap (S uint8). A slide's rows are
// written, flushed, and only then flagged done, so a killed umap resumes with every flagged
// slide intact; rows of slides not done stay zero.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "wsi/comm/comm.hpp"

namespace wsi {

struct TileUmapMeta {
  int64_t components = 0;  // C
  std::string parameters;  // JSON
  std::string scope;       // "slide" or "cohort"
};

// Thread-safety: none; one thread per rank.
class TileUmapFile {
 public:
  // Collective. Opens the cohort file `path` for writing /tiles/umap as `meta` says. Creates it
  // when absent (the only metadata change; flushed at once). One made with other parameters, scope
  // or size is refused (std::invalid_argument naming both).
  static TileUmapFile open(const std::string& path, const TileUmapMeta& meta, const Comm& comm);
  ~TileUmapFile();
  TileUmapFile(TileUmapFile&&) noexcept;
  TileUmapFile& operator=(TileUmapFile&&) noexcept;

  std::vector<uint8_t> done() const;  // one flag per slide, as on disk at open
  // Independent: tile rows [first, first + count) of /tiles/features (count x D, as float32).
  std::vector<float> read_features(int64_t first, int64_t count) const;
  int64_t feature_size() const;
  // One slide's rows: tiles [first, first + count), count x C values.
  struct SlideRows {
    int64_t slide = 0, first = 0, count = 0;
    std::vector<float> rows;
  };
  // Collective: every rank passes its own slides (possibly none); rows, flush, done flags, flush.
  void write(const std::vector<SlideRows>& slides);
  void close();  // collective

 private:
  struct Impl;
  explicit TileUmapFile(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Serial, for render: what /tiles/umap holds, or nothing when the file has none; the done
// flags (one per slide) and rows [first, first + count) (count x C).
std::optional<TileUmapMeta> read_tile_umap_meta(const std::string& path);
std::vector<uint8_t> read_tile_umap_done(const std::string& path);
std::vector<float> read_tile_umap(const std::string& path, int64_t first, int64_t count);

}  // namespace wsi
