// Data-flow step 4: a checkpoint epoch, reached by every rank (also idle ones) when the
// coordinator starts one. Order, so that a kill at any moment leaves a resumable file: the rows
// of the units each rank finished, flush, their done flags, the maps that are ready, flush, the
// status rows of those slides (durable at the next flush). Private to src/run/.
#pragma once
#include <vector>

#include "run/maps_stage.hpp"
#include "run/run_state.hpp"
#include "run/test_hooks.hpp"

namespace wsi::run {

// One finished unit's rows, held until the next epoch.
struct UnitResult {
  int64_t unit = 0, first = 0, count = 0;
  std::vector<float> probabilities, features;
};

// Collective. Writes `finished` (this rank's), marks every rank's checkpointed units done in
// `state` and hands them to `maps`.
void checkpoint_epoch(const std::vector<UnitResult>& finished, JobState& state, CohortFile& file, MapMaker& maps,
                      const TestHooks& hooks, const Comm& comm);

// OUT.h5.progress.json, replaced atomically: what `inspect` shows of a live or stopped job.
// `slides_done`: slides with their maps written, on all ranks. While slides are being planned,
// the tiles of the cohort are estimated from those planned so far.
void write_progress_file(const std::string& output, const JobState& state, int64_t slides_done,
                         const std::string& status);

}  // namespace wsi::run
