// One rank's failure ends the job on every rank, and every rank says why (DESIGN.md "Parallel
// shape"). Two ways, depending on where the job is:
// - At a point every rank reaches (start, the resume decision), the ranks agree: agree_on()
//   gathers every rank's outcome, and every rank throws JobStopped with the same exit status,
//   so that they all leave cleanly, the failing rank with its own message, the others naming it.
// - Anywhere else (planning, epochs, maps, finalize) the ranks may sit in different collectives:
//   the failing rank tells every other rank through a FailureWatch, whose thread logs "the job
//   stopped because rank N failed", and the CLI then aborts the MPI job.
#pragma once
#include <atomic>
#include <exception>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>

#include "wsi/comm/comm.hpp"

namespace wsi {

// The job stopped at an agreed point; every rank exits with `status`, none needs an abort.
class JobStopped : public std::runtime_error {
 public:
  JobStopped(const std::string& message, int status) : std::runtime_error(message), status_(status) {}
  int status() const { return status_; }

 private:
  int status_;
};

// Collective. `status` 0 when this rank's part succeeded, else its exit status and `message`
// why. When any rank failed, every rank throws JobStopped with the lowest failing rank's status:
// that rank's own message on it, "stopped because rank N failed (<what>): <message>" elsewhere.
void agree_on(const Comm& comm, const std::string& what, int status, const std::string& message);

// Thread-safety: announce() from the thread that failed; the watch thread only logs.
class FailureWatch {
 public:
  explicit FailureWatch(const Comm& comm);  // collective (duplicates comm)
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
