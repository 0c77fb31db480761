// The colours of /tiles/umap, see wsi/render/umap_colours.hpp.
#include "wsi/render/umap_colours.hpp"

#include <algorithm>

#include "wsi/cohort/tile_umap.hpp"

namespace wsi {
namespace {

// The first three columns of n x C UMAP rows as n x 3 scores (a missing column is constant).
std::vector<float> umap_scores(const std::vector<float>& rows, int64_t columns) {
  const size_t n = rows.size() / static_cast<size_t>(columns);
  std::vector<float> scores(3 * n, 0.0f);
  for (size_t r = 0; r < n; ++r)
    for (int64_t c = 0; c < std::min<int64_t>(columns, 3); ++c) scores[3 * r + c] = rows[r * columns + c];
  return scores;
}

std::vector<float> slide_scores(const std::string& path, const SlideRow& slide) {
  const std::vector<float> rows = read_tile_umap(path, slide.tile_start, slide.tile_count);
  return umap_scores(rows, static_cast<int64_t>(rows.size()) / slide.tile_count);
}

}  // namespace

UmapColours::UmapColours(const std::string& path, const CohortSummary& summary) {
  const std::optional<TileUmapMeta> meta = read_tile_umap_meta(path);
  if (!meta) return;
  done_ = read_tile_umap_done(path);
  if (meta->scope != "cohort") return;
  std::vector<float> scores;
  for (size_t s = 0; s < summary.slides.size(); ++s)
    if (holds(summary, s)) {
      const auto part = slide_scores(path, summary.slides[s]);
      scores.insert(scores.end(), part.begin(), part.end());
    }
  range_ = score_range(scores, 0.0, 100.0);
}

bool UmapColours::holds(const CohortSummary& summary, size_t index) const {
  return index < done_.size() && done_[index] && index < summary.slides.size() &&
         summary.slides[index].tile_count > 0;
}

std::vector<uint8_t> UmapColours::of(const std::string& path, const SlideRow& slide) const {
  const std::vector<float> scores = slide_scores(path, slide);
  return scores_to_rgb(scores, range_ ? *range_ : score_range(scores, 0.0, 100.0));
}

}  // namespace wsi
