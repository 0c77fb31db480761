// Data-flow step 5: a slide's maps are made as soon as all its units are done, beside
// inference. The slide's owner (rank slide mod size) reads its tiles and probabilities from the
// file after the epoch that checkpointed its last unit, merges the prediction map on a CPU worker,
// and the next epoch writes it (collectively: the maps are compressed) and then the slide's
// status. The tissue mask and thumbnail were written when the file was made: nothing here opens
// a slide. Private to src/run/. Thread-safety: one thread (the rank's main thread) calls it.
#pragma once
#include <atomic>
#include <future>
#include <memory>
#include <vector>

#include "run/run_state.hpp"
#include "util/progress_log.hpp"
#include "util/worker_pool.hpp"

namespace wsi::run {

class MapMaker {
 public:
  // Queues this rank's planned slides whose units are all done already (a resumed job).
  MapMaker(const Job& job, JobState& state, CohortFile& file, const Comm& comm, WorkerPool& pool);
  MapMaker(const MapMaker&) = delete;
  MapMaker& operator=(const MapMaker&) = delete;

  // Units now checkpointed by any rank: this rank's slides that they complete go to the workers.
  void units_done(const std::vector<int64_t>& units);
  // Slides from `first_slide` to the state's planned ones were just appended, with `units`.
  void slides_planned(int64_t first_slide, const std::vector<int64_t>& units);
  // Collective: writes the maps merged so far on every rank, or, with `wait`, every queued one.
  // Returns how many slides' maps all ranks wrote.
  int64_t write_ready(bool wait);
  // After the flush that follows write_ready: the status rows (done, class fractions) of the
  // slides whose maps were written. Independent.
  void commit_status();
  // True once after a merge finished since the last call: an epoch should write it soon.
  bool take_ready_signal() { return merged_flag_->exchange(false); }
  double seconds() const { return seconds_; }
  // Slides done on all ranks: before this run, and with their maps written in it.
  int64_t slides_done() const { return slides_done_before_ + slides_mapped_; }

 private:
  struct Merged;
  void queue(int64_t slide);

  const Job& job_;
  JobState& state_;
  CohortFile& file_;
  const Comm& comm_;
  WorkerPool& pool_;
  std::vector<int64_t> units_left_;  // per slide: units not yet done
  std::vector<std::future<std::shared_ptr<Merged>>> queued_;  // merges on the workers
  std::vector<std::shared_ptr<Merged>> written_;  // waiting for commit_status
  std::shared_ptr<std::atomic<bool>> merged_flag_ = std::make_shared<std::atomic<bool>>(false);
  double seconds_ = 0;
  int64_t slides_total_ = 0, slides_mapped_ = 0, slides_done_before_ = 0;
  ProgressLog progress_;
};

}  // namespace wsi::run
