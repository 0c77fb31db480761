// What the MPI commands (run, plan, aggregate) say when a rank fails, and with which status.
#pragma once
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include "cli/cli.hpp"
#include "wsi/comm/comm.hpp"
#include "wsi/schedule/failure.hpp"

namespace wsi::cli {

// " (rank R)": appended to the messages of MPI commands.
inline std::string on_rank(const Comm& world) { return " (rank " + std::to_string(world.rank()) + ")"; }

// A step the ranks agreed failed: 2 when refused (bad options, a changed job), else 1.
inline int exit_status(StepResult result) { return result == StepResult::refused ? kExitUsage : kExitJobFailed; }

// The one failure path of the MPI commands: runs `body` (which returns the exit status) on every
// rank with a FailureWatch. A stop the ranks agreed on (JobStopped) ends every rank cleanly with
// its message; any other exception is printed, told to the other ranks, and aborts the job (exit
// 1), since they may sit in different collectives.
template <class Body>
int on_every_rank(const std::string& command, const Comm& world, Body body) {
  std::unique_ptr<FailureWatch> watch;
  try {
    if (world.size() > 1) watch = std::make_unique<FailureWatch>(world, [] { MpiSession::abort(kExitJobFailed); });
    return body();
  } catch (const JobStopped& e) {
    print_error(command, e.what() + on_rank(world));
    return exit_status(e.result());
  } catch (const std::exception& e) {
    const std::string message = e.what() + on_rank(world);
    print_error(command, message);
    if (world.size() > 1) {
      if (watch) watch->announce(message);
      MpiSession::abort(kExitJobFailed);
    }
    // Nor does a lone rank finalise MPI: HDF5 closes the files a failed job left open at
    // MPI_Finalize, and crashes there on one whose metadata cannot be written (a full disk).
    std::fflush(nullptr);
    std::_Exit(kExitJobFailed);
  }
}

}  // namespace wsi::cli
