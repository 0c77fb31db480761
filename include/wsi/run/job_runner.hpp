// `wsi-mpi run`: one job over all ranks, following the data flow (plan, allocate, infer,
// checkpoint, maps, finalize; stages in src/run/). Every rank calls run_job; it returns the
// job's exit status.
#pragma once
#include <stdexcept>

#include "wsi/job/job.hpp"
#include "wsi/comm/comm.hpp"

namespace wsi {

// Exit statuses shared by every command.
enum ExitStatus : int {
  kExitOk = 0,
  kExitJobFailed = 1,
  kExitUsage = 2,
  kExitSomeSlidesFailed = 3,
  kExitResumable = 75,
};

// Bad usage or a refused job (exit 2); the message names the option or file.
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

int run_job(const Job& job, const Comm& comm);

// `wsi-mpi plan`: only the plan -- every slide's tissue mask, tile grid and thumbnail -- into the
// cohort file, on any number of ranks and without a GPU (the model is loaded on the CPU just to
// learn its outputs). `run_job` with the same job then continues from it. Returns 0, or 0 when
// the file already holds this job's plan.
int plan_job(const Job& job, const Comm& comm);

}  // namespace wsi
