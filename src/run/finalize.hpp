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

// Status rows of the slides that failed after planning (rank 0 writes them); returns the exit
// status: 0 all done, 3 some failed, 1 none done.
JobOutcome finalize_slides(JobState& state, CohortFile& file, const Comm& comm, const Failures& failed);

}  // namespace wsi::run
