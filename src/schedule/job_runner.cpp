// The job runner: the data flow of one `wsi-mpi run` on every rank (see job_runner.hpp):
// plan (or reuse the plan of an existing file), allocate, infer units handed out by the
// coordinator with checkpoint epochs, make the maps, finalize.
#include "wsi/schedule/job_runner.hpp"

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <thread>

#include <sched.h>

#include <spdlog/spdlog.h>

#include "util/json.hpp"
#include "util/sha256.hpp"
#include "wsi/batch/patch_batch.hpp"
#include "wsi/cohort/cohort_file.hpp"
#include "wsi/maps/prediction_map.hpp"
#include "wsi/schedule/coordinator.hpp"
#include "wsi/schedule/plan.hpp"
#include "wsi/schedule/signals.hpp"

namespace wsi {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

// ---- threads -------------------------------------------------------------------------------

struct ThreadPlan {
  int threads = 1;
  int readers = 1;
  int local_rank = 0;  // place on the node: picks the rank's GPU
};

// The cores of a node are shared by its ranks; a reader thread outpaces a CPU model many
// times over, so readers share the inference threads' cores.
ThreadPlan plan_threads(const Job& job, const Comm& comm) {
  // The cores this rank may run on (Slurm and mpirun bindings, cgroups), else the node's share.
  cpu_set_t allowed;
  CPU_ZERO(&allowed);
  const Comm node = comm.node();
  const int node_share = std::max(1, static_cast<int>(std::thread::hardware_concurrency()) / node.size());
  const int bound = sched_getaffinity(0, sizeof allowed, &allowed) == 0 ? CPU_COUNT(&allowed) : 0;
  const int cores = bound > 0 ? std::min(bound, node_share) : node_share;
  return {job.model.threads > 0 ? job.model.threads : cores, job.readers > 0 ? job.readers : std::max(1, cores / 4),
          node.rank()};
}

// What the model is fed: its own input size, or the job's patch size when it takes any.
BatchGeometry batch_geometry(const Job& job, const ModelDescription& d) {
  return {job.resolution, d.input_width > 0 ? d.input_width : job.patch,
          d.input_height > 0 ? d.input_height : job.patch};
}

// Patches per batch: the job's, or the default for the model's device and input size.
int batch_size_for(const Job& job, const Model& model) {
  if (job.batch_size > 0) return job.batch_size;
  const BatchGeometry g = batch_geometry(job, model.description());
  return default_batch_size(model.on_gpu(), g.input_width, g.input_height);
}

std::unique_ptr<Model> load_job_model(const Job& job, const ThreadPlan& threads) {
  std::unique_ptr<Model> model;
  try {
    ModelOptions options = job.model;
    options.threads = threads.threads;
    options.local_rank = threads.local_rank;
    model = load_model(options);
  } catch (const std::exception& e) {
    throw UsageError(std::string("--model: ") + e.what());
  }
  const ModelDescription& d = model->description();
  if (job.wants_probabilities() && d.class_names.empty())
    throw UsageError("--mode " + to_string(job.mode) + ": the model " + job.model.model +
                     " has no classes (give --classes, or use --mode features)");
  if (job.wants_features() && d.feature_size <= 0)
    throw UsageError("--mode " + to_string(job.mode) + ": the model " + job.model.model + " gives no features");
  return model;
}

// ---- planning and allocation (steps 1 and 2) ------------------------------------------------

std::vector<SlidePlan> plan_cohort(const Job& job, const std::vector<ManifestEntry>& manifest, const Comm& comm) {
  const auto duplicates = duplicate_of(manifest);
  std::vector<SlidePlan> mine;
  for (size_t i = comm.rank(); i < manifest.size(); i += comm.size()) {
    if (duplicates[i] >= 0)
      mine.push_back(failed_plan(manifest[i], "duplicate slide id '" + manifest[i].id + "' (also slide " +
                                                  std::to_string(duplicates[i] + 1) + " of the manifest)"));
    else
      mine.push_back(plan_slide(manifest[i], job));
  }
  // Gather and put back in manifest order: rank r planned slides r, r + size, ...
  const auto parts = comm.all_gather(serialise(mine));
  std::vector<SlidePlan> plans(manifest.size());
  for (size_t r = 0; r < parts.size(); ++r) {
    auto planned = deserialise_plans(parts[r]);
    for (size_t k = 0; k < planned.size(); ++k) plans[r + k * parts.size()] = std::move(planned[k]);
  }
  number_tiles(plans);
  return plans;
}

std::string job_fingerprint(const Job& job) {
  std::vector<std::string> hashes;
  if (fs::path(job.slides).extension() == ".csv")
    hashes.push_back("manifest_sha256=" + sha256_file_hex(job.slides));
  else
    hashes.push_back("slide=" + fs::absolute(job.slides).lexically_normal().string());
  if (fs::is_regular_file(job.model.model)) hashes.push_back("model_sha256=" + sha256_file_hex(job.model.model));
  if (!job.model.weights.empty()) hashes.push_back("weights_sha256=" + sha256_file_hex(job.model.weights));
  return fingerprint(job, hashes);
}

CohortPlan make_cohort_plan(const Job& job, const ModelDescription& model, const std::vector<SlidePlan>& plans,
                            const std::string& fingerprint, const Comm& comm) {
  CohortPlan cohort;
  cohort.job_json = to_json(job);
  cohort.fingerprint = fingerprint;
  cohort.class_names = job.wants_probabilities() ? model.class_names : std::vector<std::string>{};
  cohort.probabilities = job.wants_probabilities();
  cohort.feature_size = job.wants_features() ? model.feature_size : 0;
  cohort.features_float16 = job.features_float16;
  for (size_t s = 0; s < plans.size(); ++s) {
    cohort.slides.push_back(plans[s].row);
    cohort.maps.push_back(plans[s].maps);
    cohort.tile_slide.insert(cohort.tile_slide.end(), plans[s].tiles.size(), static_cast<int32_t>(s));
    cohort.tile_bounds.insert(cohort.tile_bounds.end(), plans[s].tiles.begin(), plans[s].tiles.end());
  }
  cohort.units = make_units(plans, job.unit_tiles);
  cohort.stats_ranks = comm.size();
  return cohort;
}

// What a run works from: the plan, the unit table, which units are done, previous statistics.
struct JobState {
  std::vector<SlidePlan> plans;
  std::vector<WorkUnit> units;
  std::vector<uint8_t> done;
  std::vector<RankStats> previous_stats;
  int64_t classes = 0;
};

// "key=value" lines that differ between two fingerprints, for a refused resume.
std::string fingerprint_difference(const std::string& stored, const std::string& current) {
  const auto lines = [](const std::string& text) {
    std::map<std::string, std::string> values;
    size_t start = 0;
    for (size_t end; (end = text.find('\n', start)) != std::string::npos; start = end + 1) {
      const std::string line = text.substr(start, end - start);
      const auto eq = line.find('=');
      values[line.substr(0, eq)] = eq == std::string::npos ? "" : line.substr(eq + 1);
    }
    return values;
  };
  const auto a = lines(stored), b = lines(current);
  std::string diff;
  for (const auto& [key, value] : b) {
    const auto it = a.find(key);
    const std::string old = it == a.end() ? "(none)" : it->second;
    if (old != value) diff += (diff.empty() ? "" : "; ") + key + ": " + old + " -> " + value;
  }
  for (const auto& [key, value] : a)
    if (!b.count(key)) diff += (diff.empty() ? "" : "; ") + key + ": " + value + " -> (none)";
  return diff;
}

// Restart: the stored plan, the done flags, the failures kept unless --retry-failed.
JobState resume_state(const Job& job, const std::vector<ManifestEntry>& manifest, const std::string& fingerprint) {
  CohortSummary summary;
  try {
    summary = read_cohort_summary(job.output);
  } catch (const std::exception& e) {
    throw UsageError(job.output + " exists but cannot be resumed (" + e.what() + "): give --overwrite to replace it");
  }
  if (summary.fingerprint != fingerprint)
    throw UsageError(job.output + " holds a different job (" + fingerprint_difference(summary.fingerprint, fingerprint) +
                     "): give --overwrite to replace it");
  if (summary.slides.size() != manifest.size())
    throw UsageError(job.output + " was planned for " + std::to_string(summary.slides.size()) + " slides, not " +
                     std::to_string(manifest.size()));
  JobState state;
  state.units = summary.units;
  state.done = summary.done;
  state.previous_stats = summary.stats;
  state.classes = static_cast<int64_t>(summary.class_names.size());
  const auto bounds = read_tile_bounds(job.output, 0, summary.tile_count);
  for (size_t s = 0; s < summary.slides.size(); ++s) {
    SlidePlan plan;
    plan.row = summary.slides[s];
    plan.mask_path = manifest[s].mask;
    plan.maps = summary.maps[s];
    plan.tiles.assign(bounds.begin() + plan.row.tile_start, bounds.begin() + plan.row.tile_start + plan.row.tile_count);
    // A slide that failed after planning has tiles and can run again; one that failed in
    // planning has none (its plan would change the file's layout).
    if (job.retry_failed && plan.row.status == SlideStatus::failed && plan.row.tile_count > 0)
      plan.row.status = SlideStatus::pending, plan.row.error.clear();
    state.plans.push_back(std::move(plan));
  }
  return state;
}

// ---- inference (steps 3 and 4) -------------------------------------------------------------

struct UnitResult {
  int64_t unit = 0, first = 0, count = 0;
  std::vector<float> probabilities, features;
};

// One unit's computation, a batch per step(), so that the rank can answer epochs in between.
class UnitWork {
 public:
  UnitWork(const Job& job, Model& model, const std::vector<SlidePlan>& plans, const ThreadPlan& threads)
      : job_(job),
        model_(model),
        plans_(plans),
        reader_(threads.readers, [&model](size_t bytes) { return model.host_buffer(bytes); }),
        geometry_(batch_geometry(job, model.description())),
        batch_size_(batch_size_for(job, model)) {}

  bool active() const { return active_; }
  int64_t open_slide() const { return slide_index_; }
  int64_t slide() const { return unit_.slide; }

  void start(int64_t index, const WorkUnit& unit) {
    unit_ = unit;
    result_ = UnitResult{index, unit.first_tile, unit.tile_count, {}, {}};
    if (slide_index_ != unit.slide) {
      slide_.reset();
      slide_ = wsi::open_slide(plans_[unit.slide].row.path, {job_.mpp_override});
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
    const SlidePlan& plan = plans_[unit_.slide];
    const TileBounds* tiles = plan.tiles.data() + (unit_.first_tile - plan.row.tile_start) + done_;
    const int n = static_cast<int>(std::min<int64_t>(batch_size_, unit_.tile_count - done_));
    return reader_.read(*slide_, geometry_, tiles, n);
  }

  void check_finite(const BatchResult& out) const {
    for (const auto* values : {&out.probabilities, &out.features})
      for (float v : *values)
        if (!std::isfinite(v))
          throw SlideError(plans_[unit_.slide].row.path + ": the model produced NaN or infinite values");
  }

  const Job& job_;
  Model& model_;
  const std::vector<SlidePlan>& plans_;
  PatchBatchReader reader_;
  BatchGeometry geometry_;
  int batch_size_ = 8;
  WorkUnit unit_;
  UnitResult result_;
  int64_t done_ = 0, slide_index_ = -1;
  bool active_ = false;
  std::unique_ptr<SlideReader> slide_;
  std::future<PatchBatch> pending_;
};

// Failures met on this rank after planning: slide index -> message.
using Failures = std::map<int64_t, std::string>;

Failures gather_failures(const Failures& mine, const Comm& comm) {
  std::vector<SlidePlan> as_plans;  // the plan wire format: index in tile_start, message in error
  for (const auto& [slide, error] : mine) {
    SlidePlan p;
    p.row.tile_start = slide;
    p.row.error = error;
    as_plans.push_back(p);
  }
  Failures all;
  for (const auto& part : comm.all_gather(serialise(as_plans)))
    for (const SlidePlan& p : deserialise_plans(part)) all.emplace(p.row.tile_start, p.row.error);
  return all;
}

// Test hooks (documented in docs/design.md): a per-rank log of computed units, a pause after
// each unit (a speed limit, so that stop tests find work left on any machine), and a pause
// between an epoch's row writes and its done flags, so that kill tests can hit that moment.
class TestHooks {
 public:
  explicit TestHooks(int rank) {
    if (const char* prefix = std::getenv("WSI_TEST_UNIT_LOG"))
      log_.open(std::string(prefix) + "." + std::to_string(rank), std::ios::app);
    if (const char* pause = std::getenv("WSI_TEST_EPOCH_PAUSE")) pause_ = std::atof(pause);
    if (const char* pause = std::getenv("WSI_TEST_UNIT_PAUSE")) unit_pause_ = std::atof(pause);
  }
  void computed(int64_t unit) {
    if (log_.is_open()) log_ << unit << std::endl;
    if (unit_pause_ > 0) std::this_thread::sleep_for(std::chrono::duration<double>(unit_pause_));
  }
  void between_rows_and_flags() const {
    if (pause_ <= 0) return;
    spdlog::warn("test hook: epoch rows written, pausing {} s before the done flags", pause_);
    std::this_thread::sleep_for(std::chrono::duration<double>(pause_));
  }

 private:
  std::ofstream log_;
  double pause_ = 0, unit_pause_ = 0;
};

// The main thread of a rank during inference: asks for units, computes them batch by batch,
// and joins every epoch the coordinator starts.
class Worker {
 public:
  Worker(const Job& job, Model& model, JobState& state, CohortFile& file, const ThreadPlan& threads, const Comm& world,
         const Comm& coordination)
      : job_(job), state_(state), file_(file), world_(world), channel_(coordination),
        work_(job, model, state.plans, threads), hooks_(world.rank()) {}

  // Returns true when the run was stopped by a signal (resumable).
  bool run() {
    bool waiting = false, idle = false;
    for (;;) {
      while (auto event = channel_.poll()) {
        if (event->kind == WorkEvent::epoch) {
          if (event->final && waiting) await_reply();
          if (event->final && event->stop && work_.active()) work_.abandon();
          epoch();
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
      if (work_.active()) step();
      else if (!waiting && !idle) channel_.request(work_.open_slide()), waiting = true;
      else {
        const auto wait = Clock::now();
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
        stats().seconds_waiting += seconds_since(wait);
      }
    }
  }

  RankStats& stats() { return stats_; }
  Failures& failures() { return failures_; }

 private:
  void start(int64_t unit) {
    const WorkUnit& u = state_.units[unit];
    try {
      if (failures_.count(u.slide)) return;
      work_.start(unit, u);
    } catch (const std::exception& e) {
      fail(u.slide, e.what());
    }
  }

  void step() {
    try {
      if (work_.step(stats_)) {
        finished_.push_back(work_.take());
        hooks_.computed(finished_.back().unit);
        const UnitResult& r = finished_.back();
        held_bytes_ += (r.probabilities.size() + r.features.size()) * sizeof(float);
        if (held_bytes_ > kMaxHeldBytes && !epoch_requested_) channel_.request_epoch(), epoch_requested_ = true;
      }
    } catch (const std::exception& e) {
      work_.abandon();
      fail(work_.slide(), e.what());
    }
  }

  void fail(int64_t slide, const std::string& error) {
    spdlog::error("slide {} failed: {}", state_.plans[slide].row.id, error);
    failures_[slide] = error;
    channel_.report_failed_slide(slide);
  }

  // A final epoch may overtake the reply to a request in flight: consume it before leaving.
  void await_reply() {
    for (;;) {
      if (auto event = channel_.poll(); event && event->kind != WorkEvent::epoch) {
        if (event->kind == WorkEvent::unit) start(event->unit_index);
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }

  // Collective: rows of the units finished since the last epoch, then (after a flush) their
  // done flags, so that a flag never promises rows that are not on disk.
  void epoch() {
    const auto start = Clock::now();
    std::vector<CohortFile::TileRows> rows;
    std::vector<int64_t> units;
    int64_t tiles = 0;
    for (const UnitResult& r : finished_) {
      rows.push_back({r.first, r.count, r.probabilities.empty() ? nullptr : r.probabilities.data(),
                      r.features.empty() ? nullptr : r.features.data()});
      units.push_back(r.unit);
      tiles += r.count;
    }
    file_.write_tile_rows(rows);
    file_.flush();
    hooks_.between_rows_and_flags();
    file_.write_done(units, world_.rank());
    file_.flush();
    for (int64_t u : units) state_.done[u] = 1;
    finished_.clear();
    held_bytes_ = 0, epoch_requested_ = false;
    stats_.seconds_writing += seconds_since(start);
    // Every rank learns what every rank checkpointed (the done flags of the whole job).
    const auto parts = world_.all_gather(std::string(reinterpret_cast<const char*>(units.data()),
                                                     units.size() * sizeof(int64_t)));
    for (const auto& part : parts)
      for (size_t i = 0; i + sizeof(int64_t) <= part.size(); i += sizeof(int64_t))
        state_.done[*reinterpret_cast<const int64_t*>(part.data() + i)] = 1;
    if (world_.rank() == 0) write_progress_file(job_.output, state_, "running");
  }

 public:
  static void write_progress_file(const std::string& output, const JobState& state, const std::string& status) {
    int64_t units_done = 0, tiles_done = 0, tiles = 0;
    for (size_t u = 0; u < state.units.size(); ++u) {
      tiles += state.units[u].tile_count;
      if (state.done[u]) ++units_done, tiles_done += state.units[u].tile_count;
    }
    const std::string json = JsonObject()
                                 .add("state", status)
                                 .add("units_done", units_done)
                                 .add("units_total", static_cast<int64_t>(state.units.size()))
                                 .add("tiles_done", tiles_done)
                                 .add("tiles_total", tiles)
                                 .add("slides_total", static_cast<int64_t>(state.plans.size()))
                                 .add("updated_unix", static_cast<int64_t>(std::time(nullptr)))
                                 .str();
    const std::string path = output + ".progress.json", temporary = path + ".tmp";
    std::ofstream(temporary) << json << "\n";
    std::error_code ec;
    fs::rename(temporary, path, ec);  // atomic: a reader sees the old file or the new one
  }

 private:
  const Job& job_;
  JobState& state_;
  CohortFile& file_;
  const Comm& world_;
  WorkChannel channel_;
  UnitWork work_;
  TestHooks hooks_;
  // Rows wait in memory for the next epoch; past this, the rank asks for one early, so memory
  // stays bounded whatever the slide size, the feature size or the device speed.
  static constexpr size_t kMaxHeldBytes = size_t{256} << 20;
  std::vector<UnitResult> finished_;
  size_t held_bytes_ = 0;
  bool epoch_requested_ = false;
  RankStats stats_;
  Failures failures_;
};

// ---- maps and finalize (steps 5 and 6) -------------------------------------------------------

bool all_units_done(const JobState& state, int64_t slide) {
  for (size_t u = 0; u < state.units.size(); ++u)
    if (state.units[u].slide == slide && !state.done[u]) return false;
  return true;
}

void write_slide_maps(CohortFile& file, const Job& job, int64_t index, const SlidePlan& plan, int64_t classes) {
  const auto slide = open_slide(plan.row.path, {job.mpp_override});
  const SlideProperties& props = slide->properties();
  const cv::Mat thumbnail = read_thumbnail(*slide, job.overview);
  const cv::Mat mask = slide_tissue_mask(*slide, plan.mask_path, job);
  cv::Mat prediction(static_cast<int>(plan.maps.height), static_cast<int>(plan.maps.width), CV_8UC1, cv::Scalar(0));
  std::vector<float> fractions;
  if (classes > 0 && job.wants_probabilities()) {
    const auto probabilities = file.read_probabilities(plan.row.tile_start, plan.row.tile_count);
    prediction = merge_predictions(plan.tiles, probabilities.data(), static_cast<int>(classes),
                                   size_at_resolution(props, job.resolution), size_at_resolution(props, job.overview));
    fractions = class_fractions(probabilities.data(), plan.row.tile_count, static_cast<int>(classes));
  }
  if (thumbnail.rows != plan.maps.height || thumbnail.cols != plan.maps.width || mask.rows != plan.maps.mask_height ||
      mask.cols != plan.maps.mask_width)
    throw SlideError(plan.row.path + ": the slide's maps changed size since planning");
  file.write_maps(index, prediction.data, thumbnail.data, mask.data);
  file.write_slide_status(index, SlideStatus::done, "", fractions);
}

// Slides whose units are all done and whose maps are not written yet, round-robin over ranks.
// The rank that makes a slide's maps writes its final status (done, or failed here).
void make_maps(const Job& job, JobState& state, CohortFile& file, const Comm& comm, const Failures& failed,
               Failures& mine) {
  for (size_t s = comm.rank(); s < state.plans.size(); s += comm.size()) {
    const SlidePlan& plan = state.plans[s];
    const auto index = static_cast<int64_t>(s);
    if (plan.row.status != SlideStatus::pending || failed.count(index) || !all_units_done(state, index)) continue;
    try {
      write_slide_maps(file, job, index, plan, state.classes);
    } catch (const SlideError& error) {  // the slide's own fault; a failed write fails the job
      spdlog::error("slide {} failed while making its maps: {}", plan.row.id, error.what());
      mine[index] = error.what();
      file.write_slide_status(index, SlideStatus::failed, error.what());
    }
  }
}

// Per-rank statistics of this run, added to the file's (rank r goes to row r mod rows).
std::vector<RankStats> job_statistics(const RankStats& mine, const JobState& state, const Comm& comm) {
  std::vector<RankStats> rows = state.previous_stats;
  if (rows.empty()) rows.resize(comm.size());
  const std::string bytes(reinterpret_cast<const char*>(&mine), sizeof mine);
  const auto parts = comm.all_gather(bytes);
  for (size_t r = 0; r < parts.size(); ++r) {
    const auto* s = reinterpret_cast<const RankStats*>(parts[r].data());
    RankStats& row = rows[r % rows.size()];
    row.tiles += s->tiles, row.seconds_total += s->seconds_total, row.seconds_reading += s->seconds_reading;
    row.seconds_inferring += s->seconds_inferring, row.seconds_waiting += s->seconds_waiting;
    row.seconds_writing += s->seconds_writing;
  }
  if (comm.rank() == 0) {
    spdlog::info("rank  tiles  tiles/s  reading  inferring  waiting  writing  (seconds, this run)");
    for (size_t r = 0; r < parts.size(); ++r) {
      const auto* s = reinterpret_cast<const RankStats*>(parts[r].data());
      spdlog::info("{:>4} {:>6.0f} {:>8.1f} {:>8.1f} {:>10.1f} {:>8.1f} {:>8.1f}", r, s->tiles,
                   s->seconds_total > 0 ? s->tiles / s->seconds_total : 0.0, s->seconds_reading, s->seconds_inferring,
                   s->seconds_waiting, s->seconds_writing);
    }
  }
  return rows;
}

// Status rows of slides that failed before their maps; returns the exit status.
int finalize(JobState& state, CohortFile& file, const Comm& comm, const Failures& all_failed,
             const Failures& before_maps) {
  int64_t done = 0, failures = 0;
  for (size_t s = 0; s < state.plans.size(); ++s) {
    SlideRow& row = state.plans[s].row;
    const auto index = static_cast<int64_t>(s);
    const bool failed_now = all_failed.count(index) > 0;
    if (comm.rank() == 0 && failed_now && before_maps.count(index))
      file.write_slide_status(index, SlideStatus::failed, all_failed.at(index));
    if (failed_now) row.status = SlideStatus::failed;
    else if (row.status == SlideStatus::pending) row.status = SlideStatus::done;
    (row.status == SlideStatus::done ? done : failures) += 1;
  }
  if (comm.rank() == 0) spdlog::info("{} slides done, {} failed", done, failures);
  if (failures == 0) return kExitOk;
  return done > 0 ? kExitSomeSlidesFailed : kExitJobFailed;
}

}  // namespace

int run_job(const Job& job, const Comm& comm) {
  const auto start = Clock::now();
  validate(job);
  install_stop_signals();
  const auto manifest = read_manifest(job.slides);
  const ThreadPlan threads = plan_threads(job, comm);
  auto model = load_job_model(job, threads);
  const std::string fingerprint = job_fingerprint(job);
  const bool resume = fs::exists(job.output) && !job.overwrite;
  if (comm.rank() == 0)
    spdlog::info("{} slides, {} ranks, {} inference threads and {} readers per rank, batches of {}{}", manifest.size(),
                 comm.size(), threads.threads, threads.readers, batch_size_for(job, *model),
                 resume ? ", resuming " + job.output : "");

  JobState state;
  if (resume) {
    state = resume_state(job, manifest, fingerprint);
  } else {
    state.plans = plan_cohort(job, manifest, comm);
    const CohortPlan cohort = make_cohort_plan(job, model->description(), state.plans, fingerprint, comm);
    state.units = cohort.units;
    state.done.assign(cohort.units.size(), 0);
    state.classes = static_cast<int64_t>(cohort.class_names.size());
    CohortFile::create(job.output, cohort, comm);
    if (comm.rank() == 0)
      spdlog::info("planned {} tiles in {} units ({:.1f} s)", cohort.tile_bounds.size(), cohort.units.size(),
                   seconds_since(start));
  }
  std::vector<int64_t> todo;
  for (size_t u = 0; u < state.units.size(); ++u)
    if (!state.done[u] && state.plans[state.units[u].slide].row.status == SlideStatus::pending)
      todo.push_back(static_cast<int64_t>(u));
  if (resume && comm.rank() == 0) spdlog::info("{} of {} units left to compute", todo.size(), state.units.size());

  CohortFile file = CohortFile::open(job.output, comm);
  const Comm coordination = comm.duplicate();
  bool stopped = false;
  Failures mine;
  RankStats stats;
  {
    std::unique_ptr<Coordinator> coordinator;
    if (comm.rank() == 0)
      coordinator = std::make_unique<Coordinator>(coordination, state.units, todo, job.checkpoint_interval);
    Worker worker(job, *model, state, file, threads, comm, coordination);
    stopped = worker.run();
    if (coordinator) coordinator->finish();
    stats = worker.stats();
    mine = worker.failures();
  }
  if (stopped) {
    stats.seconds_total = seconds_since(start);
    const auto rows = job_statistics(stats, state, comm);
    if (comm.rank() == 0) {
      file.write_stats(rows);
      file.write_end_state(EndState::incomplete);
      Worker::write_progress_file(job.output, state, "stopped");
      spdlog::warn("stopped by a signal; run the same command again to resume {}", job.output);
    }
    file.close();
    return kExitResumable;
  }
  const Failures failed_before_maps = gather_failures(mine, comm);
  make_maps(job, state, file, comm, failed_before_maps, mine);
  const Failures all_failed = gather_failures(mine, comm);
  stats.seconds_total = seconds_since(start);
  const auto rows = job_statistics(stats, state, comm);
  const int status = finalize(state, file, comm, all_failed, failed_before_maps);
  if (comm.rank() == 0) {
    file.write_stats(rows);
    file.write_end_state(EndState::complete);
    Worker::write_progress_file(job.output, state, "complete");
  }
  file.close();
  if (comm.rank() == 0) spdlog::info("cohort file: {} ({:.1f} s)", job.output, seconds_since(start));
  return status;
}

}  // namespace wsi
