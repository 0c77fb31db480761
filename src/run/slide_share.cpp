// See run/slide_share.hpp.
#include "run/slide_share.hpp"

#include <algorithm>

namespace wsi::run {

std::vector<int64_t> my_slides(const std::vector<int64_t>& todo, const CohortSummary& summary, const Comm& comm) {
  std::vector<int64_t> order = todo;
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
    return summary.slides[a].tile_count > summary.slides[b].tile_count;
  });
  std::vector<int64_t> load(static_cast<size_t>(comm.size()), 0);
  std::vector<int64_t> mine;
  for (const int64_t s : order) {
    const auto r = static_cast<size_t>(std::min_element(load.begin(), load.end()) - load.begin());
    load[r] += std::max<int64_t>(summary.slides[s].tile_count, 1);
    if (static_cast<int>(r) == comm.rank()) mine.push_back(s);
  }
  std::sort(mine.begin(), mine.end());
  return mine;
}

std::vector<int64_t> done_slides_with_tiles(const CohortSummary& summary) {
  std::vector<int64_t> done;
  for (size_t s = 0; s < summary.slides.size(); ++s)
    if (summary.slides[s].status == SlideStatus::done && summary.slides[s].tile_count > 0)
      done.push_back(static_cast<int64_t>(s));
  return done;
}

}  // namespace wsi::run
