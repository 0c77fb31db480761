// The job runner: the stages of one `wsi-mpi run` on every rank, in data-flow order (see
// include/wsi/run/job_runner.hpp): plan or resume (src/plan/), inference with checkpoint epochs
// and maps beside it (infer_stage, checkpoint, maps_stage), finalize.
#include "wsi/run/job_runner.hpp"

#include <filesystem>
#include <memory>
#include <optional>
#include <thread>
#include <tuple>

#include <sched.h>

#include <spdlog/spdlog.h>

#include "run/agreed_step.hpp"
#include "run/checkpoint.hpp"
#include "run/finalize.hpp"
#include "run/infer_stage.hpp"
#include "run/maps_stage.hpp"
#include "run/numeric_stage.hpp"
#include "run/test_hooks.hpp"
#include "util/process_clock.hpp"
#include "run/output_lock.hpp"
#include "wsi/schedule/failure.hpp"
#include "wsi/schedule/coordinator.hpp"
#include "wsi/plan/job_plan.hpp"
#include "wsi/schedule/signals.hpp"

namespace wsi {
namespace run {

// The cores of a node are shared by its ranks; a reader thread outpaces a CPU model many times
// over, so readers share the inference threads' cores, and so do the CPU workers, whose
// per-slide work is light once planning is done.
ThreadPlan plan_threads(const Job& job, const Comm& comm) {
  // The cores this rank may run on (Slurm and mpirun bindings, cgroups), else the node's share.
  cpu_set_t allowed;
  CPU_ZERO(&allowed);
  const Comm node = comm.node();
  const int node_share = std::max(1, static_cast<int>(std::thread::hardware_concurrency()) / node.size());
  const int bound = sched_getaffinity(0, sizeof allowed, &allowed) == 0 ? CPU_COUNT(&allowed) : 0;
  const int cores = bound > 0 ? std::min(bound, node_share) : node_share;
  return {job.model.threads > 0 ? job.model.threads : cores, job.readers > 0 ? job.readers : std::max(1, cores / 4),
          job.cpu_workers > 0 ? job.cpu_workers : cores, node.rank()};
}

}  // namespace run

namespace {

using namespace run;

std::unique_ptr<Model> load_job_model(const Job& job, const ThreadPlan& threads) {
  std::unique_ptr<Model> model;
  try {
    ModelOptions options = job.model;
    options.threads = threads.threads;
    options.local_rank = threads.local_rank;
    options.batch_size = job.batch_size;
    options.configure = false;  // the job's numeric configuration is agreed by every rank (numeric_stage)
    model = load_model(options);
  } catch (const std::exception& e) {
    throw JobRefused(std::string("--model: ") + e.what());
  }
  const ModelDescription& d = model->description();
  if (job.wants_probabilities() && d.class_names.empty())
    throw JobRefused("--mode " + to_string(job.mode) + ": the model " + job.model.model +
                     " has no classes (give --classes, or use --mode features)");
  if (job.wants_features() && d.feature_size <= 0)
    throw JobRefused("--mode " + to_string(job.mode) + ": the model " + job.model.model + " gives no features");
  return model;
}

// `wsi-mpi plan` needs only what the model outputs (classes, feature size): it loads the model
// on the CPU in fp32, so that a CPU node can plan a job meant for GPUs.
Job planning_job(Job job) {
  job.model.device = "cpu";
  job.model.precision = Precision::fp32;
  return job;
}

// Transformers spend their time in BLAS matmuls, which the reference BLAS runs tens of times
// slower than an optimised one; CNNs hardly notice (their convolutions go through oneDNN).
void log_blas_backend() {
  const BlasBackend blas = blas_backend();
  if (blas.reference)
    spdlog::warn("BLAS behind LibTorch: {} ({}): matrix products (transformer encoders) run tens of times slower "
                 "than with OpenBLAS; install it (apt-get install libopenblas0-pthread)", blas.name, blas.library);
  else
    spdlog::info("BLAS behind LibTorch: {} ({})", blas.name, blas.library);
}

// What every rank has once the job's start is agreed.
struct Started {
  std::vector<ManifestEntry> manifest;
  ThreadPlan threads;
  std::unique_ptr<Model> model;
  std::string fingerprint;
  std::optional<OutputLock> lock;  // rank 0
  bool resume = false;
};

// Every rank checks the job and loads its model, and the ranks agree before any of them takes a
// collective step (a rank whose model does not load must not leave the others waiting). Whether
// the output exists is rank 0's view (file systems may differ). (Filled in place: the output
// lock does not move.)
void start_job(const Job& job, const Comm& comm, bool plan_only, Started& s) {
  agreed_step(comm, "start", [&] {
    validate(job);
    s.manifest = read_manifest(job.slides);
    s.threads = plan_threads(job, comm);
    s.model = load_job_model(plan_only ? planning_job(job) : job, s.threads);
    s.fingerprint = job_fingerprint(job);
    if (comm.rank() == 0) s.lock.emplace(job.output);
    fail_point(comm, "start");
  });
  s.resume =
      comm.broadcast(comm.rank() == 0 && std::filesystem::exists(job.output) && !job.overwrite ? "1" : "0", 0) == "1";
  if (comm.rank() == 0) log_blas_backend();
  if (comm.rank() == 0)
    spdlog::info("model loaded {:.2f} s after the process started", seconds_since_process_start());
  if (comm.rank() == 0)
    spdlog::info("{} slides, {} ranks, {} inference threads, {} readers and {} CPU workers per rank{}",
                 s.manifest.size(), comm.size(), s.threads.threads, s.threads.readers, s.threads.cpu_workers,
                 s.resume ? ", resuming " + job.output : "");
}

// The numeric configuration this rank runs with, as /stats/ranks records it.
RankStats configuration_stats(const Model& model) {
  const NumericConfig& c = model.configuration();
  RankStats stats;
  stats.channels_last = c.channels_last, stats.optimized = c.optimized;
  stats.precision = static_cast<double>(c.precision);
  stats.batch_size = c.batch_size, stats.probe_tiles_per_second = c.measured_tiles_per_second;
  return stats;
}

// A file planned by `wsi-mpi plan` records the configuration its first run decided.
void record_numeric_config(CohortFile& file, const Model& model, const Comm& comm) {
  agreed_step(comm, "recording the numeric configuration", [&] {
    if (comm.rank() == 0) file.write_numeric_config(to_json(model.configuration()));
  });
}

// The units not done of slides still pending, in unit order.
std::vector<int64_t> units_to_do(const JobState& state) {
  std::vector<int64_t> todo;
  for (size_t u = 0; u < state.units.size(); ++u)
    if (!state.done[u] && state.plans[state.units[u].slide].row.status == SlideStatus::pending)
      todo.push_back(static_cast<int64_t>(u));
  return todo;
}

// After the last epoch: the maps and statuses of the slides it completed (at most a few seconds
// of tiles), the statistics, each slide's end, the end state and the progress file.
JobOutcome finish_job(const Job& job, JobState& state, CohortFile& file, MapMaker& maps, RankStats& stats,
                      const Failures& mine, bool stopped, const Comm& comm, Clock::time_point start) {
  const auto last_tile = Clock::now();
  if (!stopped) {
    maps.write_ready(true);
    file.flush();
    maps.commit_status();
  }
  stats.seconds_maps = maps.seconds();
  stats.seconds_total = seconds_since(start);
  fail_point(comm, "finalize");
  const auto rows = job_statistics(stats, state, comm);
  JobOutcome ended = JobOutcome::stopped;
  if (!stopped) ended = finalize_slides(state, file, comm, gather_failures(mine, comm));
  if (comm.rank() == 0) {
    file.write_stats(rows);
    file.write_end_state(stopped ? EndState::incomplete : EndState::complete);
    write_progress_file(job.output, state, maps.slides_done(), stopped ? "stopped" : "complete");
    if (stopped) spdlog::warn("stopped by a signal; run the same command again to resume {}", job.output);
  }
  file.close();
  if (!stopped && comm.rank() == 0)
    spdlog::info("cohort file: {} ({:.1f} s; {:.1f} s after the last tile)", job.output, seconds_since(start),
                 seconds_since(last_tile));
  return ended;
}

JobOutcome run_stages(const Job& job, const Comm& comm, bool plan_only, const AbortJob& abort_job) {
  const auto start = Clock::now();
  install_stop_signals();
  Started started;
  start_job(job, comm, plan_only, started);
  WorkerPool pool(started.threads.cpu_workers);
  JobState state;
  if (started.resume) {
    agreed_step(comm, "resume", [&] { state = resume_state(job, started.manifest, started.fingerprint); });
  }
  const std::string recorded = state.numeric_config;
  if (!plan_only)
    agree_numeric_config(job, *started.model, recorded, started.fingerprint, started.threads, comm);
  RankStats stats = configuration_stats(*started.model);
  if (!started.resume)
    state = create_cohort_file(job, started.model->description(), started.manifest, started.fingerprint,
                               plan_only ? "" : to_json(started.model->configuration()), comm);
  CohortFile file = CohortFile::open(job.output, comm);
  CohortPlanner planner(job, started.manifest, state, comm, pool);
  if (plan_only) {
    while (!planner.finished()) {
      planner.wait_all();
      planner.append_ready(file, state);
    }
    file.close();
    if (comm.rank() == 0)
      spdlog::info("{} {}: run `wsi-mpi run` with the same job to compute it", job.output,
                   started.resume ? "was planned already" : "is planned");
    return JobOutcome::complete;
  }
  const std::vector<int64_t> todo = units_to_do(state);
  if (started.resume && comm.rank() == 0)
    spdlog::info("{} of {} units left to compute, {} of {} slides planned", todo.size(), state.units.size(),
                 state.planned_slides, state.plans.size());
  if (recorded.empty() && started.resume) record_numeric_config(file, *started.model, comm);
  const Comm coordination = comm.duplicate();
  MapMaker maps(job, state, file, comm, pool);
  if (comm.rank() == 0) write_progress_file(job.output, state, maps.slides_done(), "running");
  bool stopped = false;
  Failures mine;
  {
    std::unique_ptr<Coordinator> coordinator;
    if (comm.rank() == 0)
      coordinator = std::make_unique<Coordinator>(coordination, state.units, todo, planner.finished(),
                                                  job.checkpoint_interval, abort_job);
    Worker worker(job, *started.model, state, file, maps, planner, coordinator.get(), started.threads, comm,
                  coordination, stats);
    stopped = worker.run();
    if (coordinator) coordinator->finish();
    mine = worker.failures();
  }
  stats.seconds_planning += planner.seconds();
  return finish_job(job, state, file, maps, stats, mine, stopped, comm, start);
}

}  // namespace

JobOutcome run_job(const Job& job, const Comm& comm, const AbortJob& abort_job) {
  return run_stages(job, comm, false, abort_job);
}

JobOutcome plan_job(const Job& job, const Comm& comm, const AbortJob& abort_job) {
  return run_stages(job, comm, true, abort_job);
}

}  // namespace wsi
