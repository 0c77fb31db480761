// Which slides a rank takes in the per-slide commands (src/run/slide_share.hpp), over three
// in-process ranks (unit/comm/in_process_comm.hpp): every slide to exactly one rank, the same
// split whichever rank computes it, largest first to the least loaded rank; and which slides
// count as done.
#include <catch2/catch.hpp>

#include <algorithm>
#include <vector>

#include "run/slide_share.hpp"
#include "unit/comm/in_process_comm.hpp"

using namespace wsi;

namespace {

CohortSummary slides_of(const std::vector<int64_t>& tile_counts, const std::vector<SlideStatus>& status) {
  CohortSummary summary;
  for (size_t s = 0; s < tile_counts.size(); ++s) {
    SlideRow row;
    row.tile_count = tile_counts[s];
    row.status = status.at(s);
    summary.slides.push_back(row);
  }
  return summary;
}

}  // namespace

TEST_CASE("slide share: every slide to one rank, balanced by tiles, largest first", "[run]") {
  // Tiles 100, 10, 60, 50, 5, 45: largest first, each to the least loaded rank (ties: the
  // lowest), gives rank 0 slide 0 (100 tiles), rank 1 slides 2, 1, 4 (75), rank 2 slides 3, 5 (95).
  const CohortSummary summary = slides_of({100, 10, 60, 50, 5, 45}, std::vector<SlideStatus>(6, SlideStatus::done));
  const std::vector<int64_t> todo = {0, 1, 2, 3, 4, 5};
  const std::vector<Comm> ranks = test::in_process_world(3);
  std::vector<std::vector<int64_t>> shares;
  for (const Comm& comm : ranks) shares.push_back(run::my_slides(todo, summary, comm));
  CHECK(shares[0] == std::vector<int64_t>{0});
  CHECK(shares[1] == std::vector<int64_t>{1, 2, 4});
  CHECK(shares[2] == std::vector<int64_t>{3, 5});
  std::vector<int64_t> all;
  for (const auto& share : shares) {
    CHECK(std::is_sorted(share.begin(), share.end()));
    all.insert(all.end(), share.begin(), share.end());
  }
  std::sort(all.begin(), all.end());
  CHECK(all == todo);
  // Only the slides asked for; none at all for a rank when there are fewer slides than ranks.
  CHECK(run::my_slides({3}, summary, ranks[0]) == std::vector<int64_t>{3});
  CHECK(run::my_slides({3}, summary, ranks[1]).empty());
}

TEST_CASE("slide share: slides without tiles still count, so they spread over the ranks", "[run]") {
  const CohortSummary summary = slides_of({0, 0, 0, 0}, std::vector<SlideStatus>(4, SlideStatus::done));
  const std::vector<Comm> ranks = test::in_process_world(2);
  CHECK(run::my_slides({0, 1, 2, 3}, summary, ranks[0]) == std::vector<int64_t>{0, 2});
  CHECK(run::my_slides({0, 1, 2, 3}, summary, ranks[1]) == std::vector<int64_t>{1, 3});
}

TEST_CASE("slide share: the done slides are those done with tiles", "[run]") {
  const CohortSummary summary = slides_of(
      {4, 0, 7, 3, 2}, {SlideStatus::done, SlideStatus::done, SlideStatus::failed, SlideStatus::pending, SlideStatus::done});
  CHECK(run::done_slides_with_tiles(summary) == std::vector<int64_t>{0, 4});
}
