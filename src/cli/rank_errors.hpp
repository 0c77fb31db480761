// What the MPI commands (run, plan, aggregate) say when a rank fails, and with which status.
#pragma once
#include <string>

#include "cli/cli.hpp"
#include "wsi/comm/comm.hpp"
#include "wsi/schedule/failure.hpp"

namespace wsi::cli {

// " (rank R)": appended to the messages of MPI commands.
inline std::string on_rank(const Comm& world) { return " (rank " + std::to_string(world.rank()) + ")"; }

// A step the ranks agreed failed: 2 when refused (bad options, a changed job), else 1.
inline int exit_status(StepResult result) { return result == StepResult::refused ? kExitUsage : kExitJobFailed; }

}  // namespace wsi::cli
