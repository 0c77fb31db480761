// The job runner: the data flow of one `wsi-mpi run` on every rank. See job_runner.hpp.
#include "wsi/schedule/job_runner.hpp"

#include <chrono>
#include <cmath>
#include <filesystem>
#include <map>
#include <memory>
#include <thread>

#include <spdlog/spdlog.h>

#include "util/sha256.hpp"
#include "wsi/batch/patch_batch.hpp"
#include "wsi/cohort/cohort_file.hpp"
#include "wsi/maps/prediction_map.hpp"
#include "wsi/schedule/plan.hpp"

namespace wsi {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Cores of this node shared by its ranks; inference threads and readers from them.
struct ThreadPlan {
  int threads = 1;
  int readers = 1;
};

ThreadPlan plan_threads(const Job& job, const Comm& comm) {
  const int node_ranks = comm.node().size();
  const int cores = std::max(1, static_cast<int>(std::thread::hardware_concurrency()) / node_ranks);
  ThreadPlan plan;
  plan.threads = job.model.threads > 0 ? job.model.threads : cores;
  // A reader thread outpaces a CPU model many times over, so readers share the cores.
  plan.readers = job.readers > 0 ? job.readers : std::max(1, cores / 4);
  return plan;
}

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
  if (fs::is_regular_file(job.slides) && fs::path(job.slides).extension() == ".csv")
    hashes.push_back("manifest_sha256=" + sha256_file_hex(job.slides));
  else
    hashes.push_back("slide=" + fs::absolute(job.slides).lexically_normal().string());
  if (fs::is_regular_file(job.model.model)) hashes.push_back("model_sha256=" + sha256_file_hex(job.model.model));
  if (!job.model.weights.empty()) hashes.push_back("weights_sha256=" + sha256_file_hex(job.model.weights));
  return fingerprint(job, hashes);
}

CohortPlan make_cohort_plan(const Job& job, const ModelDescription& model, const std::vector<SlidePlan>& plans,
                            const Comm& comm) {
  CohortPlan cohort;
  cohort.job_json = to_json(job);
  cohort.fingerprint = job_fingerprint(job);
  cohort.class_names = model.class_names;
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

// The results of one unit, ready to be written in the next epoch.
struct UnitResult {
  int64_t unit = 0;
  int64_t first = 0, count = 0;
  std::vector<float> probabilities, features;
};

class Inference {
 public:
  Inference(const Job& job, Model& model, const std::vector<SlidePlan>& plans, const ThreadPlan& threads)
      : job_(job), model_(model), plans_(plans), reader_(threads.readers) {
    const ModelDescription& d = model.description();
    geometry_ = {job.resolution, d.input_width > 0 ? d.input_width : job.patch,
                 d.input_height > 0 ? d.input_height : job.patch};
    batch_size_ = job.batch_size > 0 ? job.batch_size : 8;
  }

  // Computes one unit; a slide failure is thrown as SlideError naming the slide.
  UnitResult compute(int64_t unit_index, const WorkUnit& unit, RankStats& stats) {
    const SlidePlan& plan = plans_[unit.slide];
    const SlideReader& slide = open(unit.slide);
    UnitResult result{unit_index, unit.first_tile, unit.tile_count, {}, {}};
    const TileBounds* tiles = plan.tiles.data() + (unit.first_tile - plan.row.tile_start);
    const int n = static_cast<int>(unit.tile_count);
    const int first_batch = std::min(batch_size_, n);
    auto pending = reader_.read(slide, geometry_, tiles, first_batch);
    for (int done = 0; done < n;) {
      auto wait_start = Clock::now();
      PatchBatch batch = pending.get();
      stats.seconds_reading += seconds_since(wait_start);
      const int next = done + batch.count;
      if (next < n) pending = reader_.read(slide, geometry_, tiles + next, std::min(batch_size_, n - next));
      auto infer_start = Clock::now();
      BatchResult out = model_.run(batch.pixels.data(), batch.count, job_.wants_probabilities(), job_.wants_features());
      stats.seconds_inferring += seconds_since(infer_start);
      check_finite(out, plan);
      result.probabilities.insert(result.probabilities.end(), out.probabilities.begin(), out.probabilities.end());
      result.features.insert(result.features.end(), out.features.begin(), out.features.end());
      done = next;
    }
    stats.tiles += static_cast<double>(n);
    return result;
  }

 private:
  const SlideReader& open(int64_t slide) {
    if (open_slide_index_ != slide) {
      slide_ = open_slide(plans_[slide].row.path, {job_.mpp_override});
      open_slide_index_ = slide;
    }
    return *slide_;
  }

  static void check_finite(const BatchResult& out, const SlidePlan& plan) {
    for (const auto* values : {&out.probabilities, &out.features})
      for (float v : *values)
        if (!std::isfinite(v)) throw SlideError(plan.row.path + ": the model produced NaN or infinite values");
  }

  const Job& job_;
  Model& model_;
  const std::vector<SlidePlan>& plans_;
  PatchBatchReader reader_;
  BatchGeometry geometry_;
  int batch_size_ = 8;
  int64_t open_slide_index_ = -1;
  std::unique_ptr<SlideReader> slide_;
};

// Logs done/total tiles, tiles/s and ETA every few seconds (rank 0).
class ProgressLog {
 public:
  explicit ProgressLog(int64_t total) : total_(total) {}
  void update(int64_t done, bool force = false) {
    if (!force && seconds_since(last_) < 5.0) return;
    last_ = Clock::now();
    const double elapsed = seconds_since(start_);
    const double rate = elapsed > 0 ? done / elapsed : 0.0;
    const double eta = rate > 0 ? (total_ - done) / rate : 0.0;
    spdlog::info("{}/{} tiles ({:.1f} %), {:.1f} tiles/s, ETA {:.0f} s", done, total_,
                 total_ ? 100.0 * done / total_ : 100.0, rate, eta);
  }

 private:
  int64_t total_;
  Clock::time_point start_ = Clock::now(), last_ = Clock::now();
};

// Failures met by this rank after planning: slide index -> message.
using Failures = std::map<int64_t, std::string>;

Failures gather_failures(const Failures& mine, const Comm& comm) {
  std::vector<SlidePlan> as_plans;  // reuse the plan wire format: index in tile_start, message in error
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

void write_slide_maps(CohortFile& file, const Job& job, int64_t index, const SlidePlan& plan, int classes) {
  const auto slide = open_slide(plan.row.path, {job.mpp_override});
  const cv::Mat thumbnail = read_thumbnail(*slide, job.overview);
  const cv::Mat mask = slide_tissue_mask(*slide, plan.mask_path, job);
  cv::Mat prediction(static_cast<int>(plan.maps.height), static_cast<int>(plan.maps.width), CV_8UC1, cv::Scalar(0));
  std::vector<float> fractions;
  if (classes > 0 && job.wants_probabilities()) {
    const auto probabilities = file.read_probabilities(plan.row.tile_start, plan.row.tile_count);
    prediction = merge_predictions(plan.tiles, probabilities.data(), classes, plan.at_resolution, plan.at_overview);
    fractions = class_fractions(probabilities.data(), plan.row.tile_count, classes);
  }
  if (thumbnail.rows != plan.maps.height || thumbnail.cols != plan.maps.width || mask.rows != plan.maps.mask_height ||
      mask.cols != plan.maps.mask_width)
    throw SlideError(plan.row.path + ": the slide's maps changed size since planning");
  file.write_maps(index, prediction.data, thumbnail.data, mask.data);
  file.write_slide_status(index, SlideStatus::done, "", fractions);
}

struct RunState {
  std::vector<SlidePlan> plans;
  CohortPlan cohort;
  Failures failures;  // this rank's
  RankStats stats;
};

// Static round-robin share of the units; each epoch writes one unit per rank.
void infer(const Job& job, Model& model, RunState& state, CohortFile& file, const ThreadPlan& threads,
           const Comm& comm) {
  Inference inference(job, model, state.plans, threads);
  std::vector<int64_t> mine;
  for (size_t u = comm.rank(); u < state.cohort.units.size(); u += comm.size()) mine.push_back(static_cast<int64_t>(u));
  const int64_t epochs = comm.all_reduce_max(static_cast<int64_t>(mine.size()));
  int64_t total = 0;
  for (const WorkUnit& u : state.cohort.units) total += u.tile_count;
  ProgressLog progress(total);
  int64_t my_tiles = 0;
  for (int64_t e = 0; e < epochs; ++e) {
    std::vector<UnitResult> results;
    if (e < static_cast<int64_t>(mine.size())) {
      const WorkUnit& unit = state.cohort.units[mine[e]];
      if (!state.failures.count(unit.slide)) {
        try {
          results.push_back(inference.compute(mine[e], unit, state.stats));
          my_tiles += unit.tile_count;
        } catch (const std::exception& error) {
          spdlog::error("slide {} failed: {}", state.plans[unit.slide].row.id, error.what());
          state.failures[unit.slide] = error.what();
        }
      }
    }
    const auto write_start = Clock::now();
    std::vector<CohortFile::TileRows> rows;
    std::vector<int64_t> done;
    for (const UnitResult& r : results) {
      rows.push_back({r.first, r.count, r.probabilities.empty() ? nullptr : r.probabilities.data(),
                      r.features.empty() ? nullptr : r.features.data()});
      done.push_back(r.unit);
    }
    file.write_tile_rows(rows);
    file.flush();
    file.write_done(done, comm.rank());
    file.flush();
    state.stats.seconds_writing += seconds_since(write_start);
    const int64_t tiles_done = comm.all_reduce_sum(my_tiles);
    if (comm.rank() == 0) progress.update(tiles_done, e + 1 == epochs);
  }
}

// The rank that makes a slide's maps also writes its final status (done, or failed here).
void make_maps(const Job& job, const ModelDescription& model, RunState& state, CohortFile& file, const Comm& comm,
               const Failures& failed) {
  for (size_t s = comm.rank(); s < state.plans.size(); s += comm.size()) {
    const SlidePlan& plan = state.plans[s];
    if (plan.row.status == SlideStatus::failed || failed.count(static_cast<int64_t>(s))) continue;
    try {
      write_slide_maps(file, job, static_cast<int64_t>(s), plan, static_cast<int>(model.class_names.size()));
    } catch (const std::exception& error) {
      spdlog::error("slide {} failed while making its maps: {}", plan.row.id, error.what());
      state.failures[static_cast<int64_t>(s)] = error.what();
      file.write_slide_status(static_cast<int64_t>(s), SlideStatus::failed, error.what());
    }
  }
}

// Status rows of slides that failed before their maps, statistics and end state; returns the
// exit status.
int finalize(RunState& state, CohortFile& file, const Comm& comm, double seconds, const Failures& before_maps) {
  const Failures failed = gather_failures(state.failures, comm);
  state.stats.seconds_total = seconds;
  std::vector<RankStats> stats;
  const std::string mine(reinterpret_cast<const char*>(&state.stats), sizeof state.stats);
  for (const auto& part : comm.all_gather(mine)) stats.push_back(*reinterpret_cast<const RankStats*>(part.data()));
  int64_t done = 0, failures = 0;
  for (size_t s = 0; s < state.plans.size(); ++s) {
    SlideRow& row = state.plans[s].row;
    if (const auto it = failed.find(static_cast<int64_t>(s)); it != failed.end())
      row.status = SlideStatus::failed, row.error = it->second;
    else if (row.status != SlideStatus::failed)
      row.status = SlideStatus::done;
    (row.status == SlideStatus::done ? done : failures) += 1;
    const bool failed_before_maps = state.plans[s].maps.height == 0 || before_maps.count(static_cast<int64_t>(s));
    if (comm.rank() == 0 && row.status == SlideStatus::failed && failed_before_maps)
      file.write_slide_status(static_cast<int64_t>(s), row.status, row.error);
  }
  if (comm.rank() == 0) {
    file.write_stats(stats);
    file.write_end_state(EndState::complete);
  }
  file.close();
  if (comm.rank() == 0) {
    spdlog::info("{} slides done, {} failed, in {:.1f} s", done, failures, seconds);
    spdlog::info("rank  tiles  tiles/s  reading  inferring  waiting  writing");
    for (size_t r = 0; r < stats.size(); ++r)
      spdlog::info("{:>4} {:>6.0f} {:>8.1f} {:>8.1f} {:>10.1f} {:>8.1f} {:>8.1f}", r, stats[r].tiles,
                   stats[r].seconds_total > 0 ? stats[r].tiles / stats[r].seconds_total : 0.0, stats[r].seconds_reading,
                   stats[r].seconds_inferring, stats[r].seconds_waiting, stats[r].seconds_writing);
  }
  if (failures == 0) return kExitOk;
  return done > 0 ? kExitSomeSlidesFailed : kExitJobFailed;
}

std::unique_ptr<Model> load_job_model(const Job& job, const ThreadPlan& threads) {
  std::unique_ptr<Model> model;
  try {
    ModelOptions options = job.model;
    options.threads = threads.threads;
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

}  // namespace

int run_job(const Job& job, const Comm& comm) {
  const auto start = Clock::now();
  validate(job);
  const auto manifest = read_manifest(job.slides);
  if (fs::exists(job.output) && !job.overwrite)
    throw UsageError(job.output + " exists: give --overwrite to replace it");
  const ThreadPlan threads = plan_threads(job, comm);
  auto model = load_job_model(job, threads);
  if (comm.rank() == 0)
    spdlog::info("{} slides, {} ranks, {} inference threads and {} readers per rank", manifest.size(), comm.size(),
                 threads.threads, threads.readers);
  RunState state;
  state.plans = plan_cohort(job, manifest, comm);
  state.cohort = make_cohort_plan(job, model->description(), state.plans, comm);
  if (comm.rank() == 0)
    spdlog::info("planned {} tiles in {} units ({:.1f} s)", state.cohort.tile_bounds.size(), state.cohort.units.size(),
                 seconds_since(start));
  CohortFile::create(job.output, state.cohort, comm);
  CohortFile file = CohortFile::open(job.output, comm);
  infer(job, *model, state, file, threads, comm);
  const Failures failed_in_inference = gather_failures(state.failures, comm);
  make_maps(job, model->description(), state, file, comm, failed_in_inference);
  const int status = finalize(state, file, comm, seconds_since(start), failed_in_inference);
  if (comm.rank() == 0) spdlog::info("cohort file: {}", job.output);
  return status;
}

}  // namespace wsi
