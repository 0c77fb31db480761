// Private to src/run/: test hooks, set through the environment (documented in docs/design.md):
// WSI_TEST_UNIT_LOG (a per-rank log of computed units), WSI_TEST_UNIT_PAUSE (a pause after each
// unit: a speed limit, so that stop tests find work left on any machine), WSI_TEST_PLAN_PAUSE
// (after each slide planned, on the worker: planning goes on for a while), WSI_TEST_EPOCH_PAUSE
// (between an epoch's row writes and its done flags), WSI_TEST_MAPS_PAUSE (between an epoch's
// maps write and its flush) and WSI_TEST_GROW_PAUSE (between the flush of slides appended to the
// file and the record that makes them planned), so that kill tests can hit those moments; WSI_TEST_FAIL=RANK:PHASE
// makes rank RANK throw at PHASE (start, planning, epoch, grow (an epoch's append of planned
// slides), maps, finalize; aggregate-start and
// aggregate-write in `wsi-mpi aggregate`; umap-start, umap-fit (rank 0) and umap-write in `wsi-mpi
// umap`), for the tests that one rank's failure ends the job
// everywhere; at the phases run on the main thread (start, epoch, grow, finalize, aggregate-*),
// RANK:PHASE:mpi makes a real MPI call fail there (a send to a rank that does not exist) and
// RANK:PHASE:signal makes the rank die of SIGSEGV.
#pragma once
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>

#include <spdlog/spdlog.h>

#include "util/fail_point.hpp"
#include "wsi/comm/comm.hpp"

namespace wsi::run {

using wsi::fail_point;  // the rank's own (util/fail_point.hpp), beside the overload below

// fail_point, and the MPI error and the fatal signal.
inline void fail_point(const Comm& comm, const char* phase) {
  fail_point(comm.rank(), phase);
  const char* wanted = std::getenv("WSI_TEST_FAIL");
  const std::string here = std::to_string(comm.rank()) + ":" + phase;
  if (!wanted) return;
  if (wanted == here + ":mpi") comm.send(comm.size(), 0, "test hook: a message to no rank");
  if (wanted == here + ":signal") std::raise(SIGSEGV);
}

class TestHooks {
 public:
  explicit TestHooks(int rank) {
    if (const char* prefix = std::getenv("WSI_TEST_UNIT_LOG"))
      log_.open(std::string(prefix) + "." + std::to_string(rank), std::ios::app);
    epoch_pause_ = test_seconds("WSI_TEST_EPOCH_PAUSE");
    unit_pause_ = test_seconds("WSI_TEST_UNIT_PAUSE");
    maps_pause_ = test_seconds("WSI_TEST_MAPS_PAUSE");
    grow_pause_ = test_seconds("WSI_TEST_GROW_PAUSE");
  }
  void computed(int64_t unit) {
    if (log_.is_open()) log_ << unit << std::endl;
    pause(unit_pause_, nullptr);
  }
  void between_rows_and_flags() const { pause(epoch_pause_, "epoch rows written, pausing {} s before the done flags"); }
  void between_maps_and_flush() const { pause(maps_pause_, "maps written, pausing {} s before the flush"); }
  void between_growth_and_record() const {
    pause(grow_pause_, "slides appended and flushed, pausing {} s before recording them");
  }

 private:
  static void pause(double seconds, const char* message) {
    if (seconds <= 0) return;
    if (message) spdlog::warn(std::string("test hook: ") + message, seconds);
    std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  }
  std::ofstream log_;
  double epoch_pause_ = 0, unit_pause_ = 0, maps_pause_ = 0, grow_pause_ = 0;
};

}  // namespace wsi::run
