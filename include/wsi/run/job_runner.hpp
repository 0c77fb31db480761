// `wsi-mpi run`: one job over all ranks, following the data flow (plan, allocate, infer,
// checkpoint, maps, finalize; planning in src/plan/, the other stages in src/run/). Every rank
// calls run_job; it returns how the job ended (the CLI turns that into an exit status).
#pragma once
#include "wsi/comm/comm.hpp"
#include "wsi/job/job.hpp"
#include "wsi/schedule/failure.hpp"

namespace wsi {

enum class JobOutcome {
  complete,            // every slide done
  some_slides_failed,  // the others done
  all_slides_failed,
  stopped,             // by a signal: the file is resumable
};

// Throws JobRefused (wsi/job/job.hpp), JobStopped (every rank agreed the job cannot go on) or
// another exception (this rank failed where the others may be inside a collective: the caller must abort the
// job). `abort_job` ends every rank at once; it is called when the scheduler itself fails.
JobOutcome run_job(const Job& job, const Comm& comm, const AbortJob& abort_job);

// `wsi-mpi plan`: only the plan -- every slide's tissue mask, tile grid and thumbnail -- into the
// cohort file, on any number of ranks and without a GPU (the model is loaded on the CPU just to
// learn its outputs). `run_job` with the same job then continues from it. Returns complete,
// also when the file already holds this job's plan.
JobOutcome plan_job(const Job& job, const Comm& comm, const AbortJob& abort_job);

}  // namespace wsi
