// Data-flow step 3: a rank's main thread during inference. It asks the coordinator for units,
// computes them batch by batch (reader threads fill batches while the model runs), and joins
// every checkpoint epoch the coordinator starts, in which the file also grows by the slides
// planned meanwhile (their units go to the coordinator). Private to src/run/.
#pragma once
#include <memory>

#include "run/checkpoint.hpp"
#include "run/maps_stage.hpp"
#include "run/run_state.hpp"
#include "run/test_hooks.hpp"
#include "wsi/batch/patch_batch.hpp"
#include "wsi/model/model.hpp"
#include "wsi/schedule/coordinator.hpp"

namespace wsi::run {

// What the model is fed: its own input size, or the job's patch size when it takes any.
BatchGeometry batch_geometry(const Job& job, const ModelDescription& model);

class Worker {
 public:
  // `stats` gains this rank's tiles and seconds reading, inferring, waiting and writing.
  // `coordinator`: rank 0's, else null.
  Worker(const Job& job, Model& model, JobState& state, CohortFile& file, MapMaker& maps, CohortPlanner& planner,
         Coordinator* coordinator, const ThreadPlan& threads, const Comm& world, const Comm& coordination,
         RankStats& stats);
  ~Worker();
  // Until the coordinator's final epoch; returns true when a signal stopped the run (resumable).
  bool run();
  const Failures& failures() const { return failures_; }

 private:
  class UnitWork;
  void start(int64_t unit);
  void step();
  void fail(int64_t slide, const std::string& error);
  void await_reply();
  void request_plans_epoch();
  void epoch(bool final);

  const Job& job_;
  JobState& state_;
  CohortFile& file_;
  MapMaker& maps_;
  CohortPlanner& planner_;
  Coordinator* coordinator_;
  // The append asked for since the last epoch: none, within a second or two, at once.
  enum class PlansAsked { no, soon, now } plans_asked_ = PlansAsked::no;
  const Comm& world_;
  WorkChannel channel_;
  std::unique_ptr<UnitWork> work_;
  TestHooks hooks_;
  // Rows wait in memory for the next epoch; past this, the rank asks for one early, so memory
  // stays bounded whatever the slide size, the feature size or the device speed.
  static constexpr size_t kMaxHeldBytes = size_t{256} << 20;
  std::vector<UnitResult> finished_;
  size_t held_bytes_ = 0;
  bool epoch_requested_ = false;
  RankStats& stats_;
  Failures failures_;
};

}  // namespace wsi::run
