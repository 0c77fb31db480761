// Dynamic work distribution (data-flow step 3) and the checkpoint clock (step 4).
//
// The Coordinator is a thread on rank 0 with its own duplicated communicator. It hands out work
// units one at a time (a rank prefers units of the slide it already has open, so one huge
// slide is shared by every rank that runs out of other work), starts a checkpoint epoch
// `checkpoint_interval` seconds after every rank finished the last one, within a few seconds
// when a slide's last unit finished or a rank has maps to write (so that maps are made beside
// inference, not after it), within two seconds when a rank has planned slides for the file
// (half a second when a rank waits for work), at once when a rank reports a signal, and ends the job with
// a final epoch once every rank is idle. Units arrive as slides are planned (add_units); a rank
// asking for work while none is left and planning goes on waits for the next ones. It polls (Comm::try_receive) with short sleeps, never
// spinning a core in a blocking receive. Every rank, rank 0 too, talks to it through a
// WorkChannel on the same communicator.
#pragma once
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "wsi/comm/comm.hpp"
#include "wsi/grid/cohort_records.hpp"
#include "wsi/schedule/failure.hpp"

namespace wsi {

// What a rank hears from the coordinator.
struct WorkEvent {
  enum Kind { unit, no_work, epoch } kind = no_work;
  int64_t unit_index = -1;  // kind == unit
  bool final = false;       // kind == epoch: the last epoch of this run
  bool stop = false;        // kind == epoch && final: stopped by a signal, resumable
};

class Coordinator {
 public:
  // `todo`: indices into `units` still to compute, in the fixed unit order; `planned`: every
  // slide is planned (no add_units follows). `abort_job` ends the job when the coordinator itself
  // fails (every rank waits on it).
  Coordinator(const Comm& comm, std::vector<WorkUnit> units, std::vector<int64_t> todo, bool planned,
              double checkpoint_interval, AbortJob abort_job);
  // Thread-safe (rank 0's main thread, after the file grew): the units of slides just planned,
  // continuing the table, all to compute; `planned`: they were the last.
  void add_units(const std::vector<WorkUnit>& units, bool planned);
  // Waits until every rank has said goodbye after the final epoch.
  void finish();
  // Without finish() (this rank failed): stops the thread at once, so that unwinding never hangs.
  ~Coordinator();
  Coordinator(const Coordinator&) = delete;
  Coordinator& operator=(const Coordinator&) = delete;

 private:
  void loop();
  struct State;
  std::unique_ptr<State> state_;
  std::mutex added_mutex_;
  std::vector<WorkUnit> added_;
  bool added_planned_ = false;
  std::atomic<bool> quit_{false};
  std::thread thread_;
};

// Thread-safety: one thread per rank (the rank's main thread).
class WorkChannel {
 public:
  explicit WorkChannel(const Comm& comm) : comm_(comm) {}
  // Asks for a unit; `open_slide` is the slide this rank has open (-1: none). Answered by a
  // WorkEvent of kind unit or no_work.
  void request(int64_t open_slide);
  // No more units of this slide: it failed here.
  void report_failed_slide(int64_t slide);
  // SIGTERM/SIGUSR1 reached this rank: the coordinator starts a final, stopping epoch.
  void report_signal();
  // The next event, if one has arrived (non-blocking).
  std::optional<WorkEvent> poll();
  // This rank holds many finished rows: asks for an epoch before the interval is up.
  void request_epoch();
  // This rank has maps ready to write: the coordinator starts an epoch within a few seconds.
  void request_maps_epoch();
  // This rank planned slides the file does not hold yet: an epoch within a second or two appends
  // them; at once when `full` (its planning may go no further ahead of the file) and a rank
  // waits for work.
  void request_plans_epoch(bool full);
  // This rank finished the epoch it was told of (the next one starts only after every rank has).
  void epoch_done();
  // After the final epoch: lets the coordinator end (every rank must say it).
  void goodbye();

 private:
  Comm comm_;
  bool signal_reported_ = false;
};

}  // namespace wsi
