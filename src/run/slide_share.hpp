// Which of a job's slides a rank takes, for the per-slide commands (aggregate, umap). Private to
// src/run/.
#pragma once
#include <cstdint>
#include <vector>

#include "wsi/cohort/cohort_file.hpp"
#include "wsi/comm/comm.hpp"

namespace wsi::run {

// This rank's share of `todo` (slide indices), ascending: largest first, each to the least loaded
// rank by tile count; the same split on every rank.
std::vector<int64_t> my_slides(const std::vector<int64_t>& todo, const CohortSummary& summary, const Comm& comm);

// The done slides of `summary` that have tiles, ascending.
std::vector<int64_t> done_slides_with_tiles(const CohortSummary& summary);

}  // namespace wsi::run
