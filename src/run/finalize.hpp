// Data-flow step 6: what every rank agrees on at the end of a run -- the slides that failed on
// any rank, the per-rank statistics (added to the file's), the status rows of failed slides and
// the job's exit status. Private to src/run/.
#pragma once
#include "run/run_state.hpp"
#include "wsi/run/job_runner.hpp"

namespace wsi::run {

// Collective: every rank's failures.
Failures gather_failures(const Failures& mine, const Comm& comm);

// Collective: this run's per-rank statistics added to the file's (rank r goes to row r mod
// rows); rank 0 logs the per-rank table.
std::vector<RankStats> job_statistics(const RankStats& mine, const JobState& state, const Comm& comm);

// Status rows of the slides that failed after planning (rank 0 writes them); returns how the
// job ended: complete, some_slides_failed or all_slides_failed.
JobOutcome finalize_slides(JobState& state, CohortFile& file, const Comm& comm, const Failures& failed);

}  // namespace wsi::run
