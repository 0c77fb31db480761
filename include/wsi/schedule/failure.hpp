// One rank's failure ends the job on every rank, and every rank says why (docs/design.md
// "Failures that end the job"). Two ways, depending on where the job is:
// - At a point every rank reaches (start, the resume decision), the ranks agree: agree_on()
//   gathers every rank's outcome, and every rank throws JobStopped with the same exit status,
//   so that they all leave cleanly, the failing rank with its own message, the others naming it.
// - Anywhere else (planning, epochs, maps, finalize) the ranks may sit in different collectives:
//   the failing rank tells every other rank through a FailureWatch, whose thread logs "the job
//   stopped because rank N failed", and the CLI then aborts the MPI job. Only the CLI aborts:
//   code below it that must end the job calls the AbortJob it was given.
#pragma once
#include <atomic>
#include <exception>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>

#include "wsi/comm/comm.hpp"

namespace wsi {

// Ends every rank of the job at once (the CLI's MpiSession::abort).
using AbortJob = std::function<void()>;

// How a rank's part of a step went.
enum class StepResult : int { ok = 0, refused = 1, failed = 2 };  // refused: the job as asked cannot run

// The job stopped at an agreed point; every rank leaves cleanly, none needs an abort.
class JobStopped : public std::runtime_error {
 public:
  JobStopped(const std::string& message, StepResult result) : std::runtime_error(message), result_(result) {}
  StepResult result() const { return result_; }

 private:
  StepResult result_;
};

// Collective. `result` ok when this rank's part succeeded, else why not in `message`. When any
// rank failed, every rank throws JobStopped with the lowest failing rank's result: that rank's
// own message on it, "stopped because rank N failed (<what>): <message>" elsewhere.
void agree_on(const Comm& comm, const std::string& what, StepResult result, const std::string& message);

// Thread-safety: announce() from the thread that failed; the watch thread only logs.
class FailureWatch {
 public:
  // Collective (duplicates comm). A rank that heard of a failure calls `abort_job` when the
  // failing rank has not aborted the job after a grace period (it may have died first).
  FailureWatch(const Comm& comm, AbortJob abort_job);
  ~FailureWatch();
  FailureWatch(const FailureWatch&) = delete;
  FailureWatch& operator=(const FailureWatch&) = delete;

  // Tells every other rank that this rank failed with `message`, and gives their watches a
  // moment to log it. The caller aborts the job afterwards.
  void announce(const std::string& message);

 private:
  struct State;
  std::shared_ptr<State> state_;
  std::thread thread_;
};

}  // namespace wsi
