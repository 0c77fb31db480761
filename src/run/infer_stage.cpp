// Inference on a rank, see infer_stage.hpp.
#include "run/infer_stage.hpp"

#include <cmath>
#include <future>
#include <thread>

#include <spdlog/spdlog.h>

#include "util/process_clock.hpp"

namespace wsi::run {

BatchGeometry batch_geometry(const Job& job, const ModelDescription& d) {
  return {job.resolution, d.input_width > 0 ? d.input_width : job.patch,
          d.input_height > 0 ? d.input_height : job.patch, job.patch_padding()};
}

// One unit's computation, a batch per step(), so that the rank can answer epochs in between.
class Worker::UnitWork {
 public:
  UnitWork(const Job& job, Model& model, const JobState& state, const CohortFile& file, const ThreadPlan& threads,
           bool log_first_batch)
      : job_(job),
        model_(model),
        state_(state),
        file_(file),
        reader_(threads.readers, [&model](size_t bytes) { return model.host_buffer(bytes); }),
        geometry_(batch_geometry(job, model.description())),
        batch_size_(model.configuration().batch_size),
        inferred_once_(!log_first_batch) {}

  bool active() const { return active_; }
  int64_t open_slide() const { return slide_index_; }
  int64_t slide() const { return unit_.slide; }

  void start(int64_t index, const WorkUnit& unit) {
    unit_ = unit;
    result_ = UnitResult{index, unit.first_tile, unit.tile_count, {}, {}};
    tiles_ = file_.read_bounds(unit.first_tile, unit.tile_count);
    if (slide_index_ != unit.slide) {
      slide_.reset();
      slide_ = wsi::open_slide(state_.plans[unit.slide].row.path, {job_.mpp_override});
      slide_index_ = unit.slide;
    }
    done_ = 0;
    active_ = true;
    pending_ = read_next();
  }

  // Computes the next batch; returns true when the unit is complete. Throws for a bad slide.
  bool step(RankStats& stats) {
    const auto wait = Clock::now();
    PatchBatch batch = pending_.get();
    stats.seconds_reading += seconds_since(wait);
    const int64_t first = done_;
    done_ += batch.count;
    if (done_ < unit_.tile_count) pending_ = read_next();
    const auto infer = Clock::now();
    model_.set_tile_origin(unit_.slide, unit_.first_tile + first);
    BatchResult out = model_.run(batch.pixels.data(), batch.count, job_.wants_probabilities(), job_.wants_features());
    stats.seconds_inferring += seconds_since(infer);
    if (!inferred_once_)  // start-up as bench/ measures it
      spdlog::info("first batch inferred {:.2f} s after the process started", seconds_since_process_start());
    inferred_once_ = true;
    check_finite(out);
    result_.probabilities.insert(result_.probabilities.end(), out.probabilities.begin(), out.probabilities.end());
    result_.features.insert(result_.features.end(), out.features.begin(), out.features.end());
    if (done_ < unit_.tile_count) return false;
    stats.tiles += static_cast<double>(unit_.tile_count);
    active_ = false;
    return true;
  }

  UnitResult take() { return std::move(result_); }

  // Drops a unit half done (a stop, or its slide failed); waits for reads in flight.
  void abandon() {
    if (pending_.valid()) pending_.wait();
    pending_ = {};
    active_ = false;
  }

 private:
  std::future<PatchBatch> read_next() {
    const int n = static_cast<int>(std::min<int64_t>(batch_size_, unit_.tile_count - done_));
    return reader_.read(*slide_, geometry_, tiles_.data() + done_, n);
  }

  void check_finite(const BatchResult& out) const {
    for (const auto* values : {&out.probabilities, &out.features})
      for (float v : *values)
        if (!std::isfinite(v))
          throw SlideError(state_.plans[unit_.slide].row.path + ": the model produced NaN or infinite values");
  }

  const Job& job_;
  Model& model_;
  const JobState& state_;
  const CohortFile& file_;
  PatchBatchReader reader_;
  BatchGeometry geometry_;
  int batch_size_ = 8;
  WorkUnit unit_;
  std::vector<TileBounds> tiles_;  // the unit's, read from the file
  UnitResult result_;
  int64_t done_ = 0, slide_index_ = -1;
  bool active_ = false;
  bool inferred_once_;  // true from the start where nothing is to be logged
  std::unique_ptr<SlideReader> slide_;
  std::future<PatchBatch> pending_;
};

Worker::Worker(const Job& job, Model& model, JobState& state, CohortFile& file, MapMaker& maps,
               CohortPlanner& planner, Coordinator* coordinator, const ThreadPlan& threads, const Comm& world,
               const Comm& coordination, RankStats& stats)
    : job_(job), state_(state), file_(file), maps_(maps), planner_(planner), coordinator_(coordinator), world_(world),
      channel_(coordination),
      work_(std::make_unique<UnitWork>(job, model, state, file, threads, world.rank() == 0)), hooks_(world.rank()),
      stats_(stats) {}

Worker::~Worker() = default;

bool Worker::run() {
  bool waiting = false, idle = false;
  for (;;) {
    while (auto event = channel_.poll()) {
      if (event->kind == WorkEvent::epoch) {
        if (event->final && waiting) await_reply();
        if (event->final && event->stop && work_->active()) work_->abandon();
        epoch(event->final);
        if (event->final) {
          channel_.goodbye();
          return event->stop;
        }
        channel_.epoch_done();
      } else {
        waiting = false;
        if (event->kind == WorkEvent::unit) start(event->unit_index);
        else idle = true;
      }
    }
    if (maps_.take_ready_signal()) channel_.request_maps_epoch();
    request_plans_epoch();
    if (work_->active()) step();
    else if (!waiting && !idle) channel_.request(work_->open_slide()), waiting = true;
    else {
      const auto wait = Clock::now();
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
      stats_.seconds_waiting += seconds_since(wait);
    }
  }
}

// Slides planned here since the last append ask for the next one; asked again, for one at once,
// when this rank's planning has gone as far ahead of the file as it may.
void Worker::request_plans_epoch() {
  if (plans_asked_ == PlansAsked::now || planner_.finished() || !planner_.has_ready()) return;
  const bool full = planner_.full();
  if (plans_asked_ == PlansAsked::soon && !full) return;
  channel_.request_plans_epoch(full);
  plans_asked_ = full ? PlansAsked::now : PlansAsked::soon;
}

void Worker::start(int64_t unit) {
  const WorkUnit& u = state_.units[unit];
  try {
    if (failures_.count(u.slide)) return;
    work_->start(unit, u);
  } catch (const std::exception& e) {
    fail(u.slide, e.what());
  }
}

void Worker::step() {
  try {
    if (work_->step(stats_)) {
      finished_.push_back(work_->take());
      hooks_.computed(finished_.back().unit);
      const UnitResult& r = finished_.back();
      held_bytes_ += (r.probabilities.size() + r.features.size()) * sizeof(float);
      if (held_bytes_ > kMaxHeldBytes && !epoch_requested_) channel_.request_epoch(), epoch_requested_ = true;
    }
  } catch (const std::exception& e) {
    work_->abandon();
    fail(work_->slide(), e.what());
  }
}

void Worker::fail(int64_t slide, const std::string& error) {
  spdlog::error("slide {} failed: {}", state_.plans[slide].row.id, error);
  failures_[slide] = error;
  channel_.report_failed_slide(slide);
}

// A final epoch may overtake the reply to a request in flight: consume it before leaving.
void Worker::await_reply() {
  for (;;) {
    if (auto event = channel_.poll(); event && event->kind != WorkEvent::epoch) {
      if (event->kind == WorkEvent::unit) start(event->unit_index);
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

void Worker::epoch(bool final) {
  const auto start = Clock::now();
  checkpoint_epoch(finished_, state_, file_, maps_, hooks_, world_);
  finished_.clear();
  held_bytes_ = 0, epoch_requested_ = false;
  if (!final && !planner_.finished()) {  // the same on every rank: the append is collective
    fail_point(world_, "grow");
    const int64_t first_slide = state_.planned_slides;
    const std::vector<int64_t> added =
        planner_.append_ready(file_, state_, [this] { hooks_.between_growth_and_record(); });
    maps_.slides_planned(first_slide, added);
    if (coordinator_) {
      std::vector<WorkUnit> units;
      for (int64_t u : added) units.push_back(state_.units[u]);
      coordinator_->add_units(units, planner_.finished());
    }
    plans_asked_ = PlansAsked::no;
  }
  if (world_.rank() == 0) write_progress_file(job_.output, state_, maps_.slides_done(), "running");
  stats_.seconds_writing += seconds_since(start);
}

}  // namespace wsi::run
