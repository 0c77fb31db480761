// The colours of /tiles/umap, as the TIAToolbox tutorial draws them: each tile's first three UMAP
// columns (a missing one constant), each min-max normalised to 0..255 over the slide -- or over
// every slide /tiles/umap holds when `wsi-mpi umap` ran with --scope cohort, so that a colour
// means the same on every slide. Used by render (<key>.umap.png) and by the annotation store
// export (each tile's `umap_rgb`).
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "wsi/cohort/cohort_file.hpp"
#include "wsi/render/feature_picture.hpp"

namespace wsi {

class UmapColours {
 public:
  // Reads /tiles/umap's done flags and, for a cohort-scope embedding, its range over every slide
  // it holds; without /tiles/umap no slide has colours.
  UmapColours(const std::string& path, const CohortSummary& summary);
  // Whether /tiles/umap holds slide `index` (a done flag and at least one tile).
  bool holds(const CohortSummary& summary, size_t index) const;
  // The slide's tiles' RGB bytes, tile_count x 3. Only for a slide it holds.
  std::vector<uint8_t> of(const std::string& path, const SlideRow& slide) const;

 private:
  std::vector<uint8_t> done_;        // empty when the file has no /tiles/umap
  std::optional<ScoreRange> range_;  // none: each slide its own
};

}  // namespace wsi
