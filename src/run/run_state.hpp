// Private to src/run/: what the stages of one `wsi-mpi run` share on a rank (docs/design.md
// "Data flow"): the JobState (the plan's rows and map shapes, the unit table, the done flags;
// wsi/plan/job_plan.hpp), the rank's threads. Data go down the stages: planning (src/plan/)
// fills a JobState, infer_stage and checkpoint advance its done flags, maps_stage turns complete
// slides into maps, finalize reads it.
#pragma once
#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "util/process_clock.hpp"
#include "wsi/cohort/cohort_file.hpp"
#include "wsi/job/job.hpp"
#include "wsi/comm/comm.hpp"
#include "wsi/plan/job_plan.hpp"

namespace wsi::run {

using Clock = std::chrono::steady_clock;

// A rank's threads: inference (intra-op), readers, CPU workers for per-slide work, and its
// place on the node (picks its GPU).
struct ThreadPlan {
  int threads = 1;
  int readers = 1;
  int cpu_workers = 1;
  int local_rank = 0;
};
ThreadPlan plan_threads(const Job& job, const Comm& comm);

// Slides that failed on this rank after planning: slide index -> message.
using Failures = std::map<int64_t, std::string>;

}  // namespace wsi::run
