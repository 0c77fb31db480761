// `wsi-mpi run` and `wsi-mpi plan`: options (command line and INI job file) -> Job -> run_job or
// plan_job on every rank. Both take the same options, so that one job file serves both steps.
#include <csignal>
#include <cstdlib>
#include <iostream>
#include <memory>

#include <spdlog/spdlog.h>

#include "cli/cli.hpp"
#include "cli/options.hpp"
#include "cli/rank_errors.hpp"
#include "wsi/run/job_runner.hpp"
#include "wsi/schedule/failure.hpp"

namespace wsi::cli {
namespace {

po::options_description run_options(const std::string& command) {
  po::options_description o("wsi-mpi " + command + " [--job FILE.ini] [options]\n\n"
                             "Every option can also come from the INI job file (name = value; relative paths are\n"
                             "taken relative to the job file). Options");
  o.add_options()
      ("help,h", "show this help")
      ("job", po::value<std::string>(), "INI job file")
      ("slides", po::value<std::string>(), "manifest CSV (slide_id,path[,mask]) or one slide file")
      ("output", po::value<std::string>(), "cohort file to write (HDF5)")
      ("overwrite", po::bool_switch(), "replace an existing output")
      ("mode", po::value<std::string>()->default_value("classify"), "classify | features | both");
  add_model_options(o);
  o.add_options()
      ("resolution", po::value<double>()->default_value(0.5), "resolution patches are read at")
      ("units", po::value<std::string>()->default_value("mpp"), "mpp | power | level | baseline")
      ("patch", po::value<int>()->default_value(224), "patch size (px at the resolution)")
      ("stride", po::value<int>()->default_value(224), "grid stride (px at the resolution)")
      ("tile-rule", po::value<std::string>()->default_value("auto"),
       "predictor | extractor | auto: the tile set and edge padding of TIAToolbox's PatchPredictor (pad 255) or "
       "DeepFeatureExtractor (height-ratio filter, pad 0); auto: extractor for --mode features, else predictor")
      ("tissue-mask", po::value<std::string>()->default_value("auto"), "auto | morphological | none")
      ("overview-resolution", po::value<double>()->default_value(4.0), "resolution of the prediction maps")
      ("overview-units", po::value<std::string>()->default_value("mpp"), "units of --overview-resolution")
      ("thumbnail-resolution", po::value<double>()->default_value(16.0), "resolution of the thumbnail kept for render")
      ("thumbnail-units", po::value<std::string>()->default_value("mpp"), "units of --thumbnail-resolution")
      ("no-thumbnail", po::bool_switch(), "keep no thumbnail (render then reads the slide)")
      ("mpp-override", po::value<double>()->default_value(0.0), "microns per level-0 px for every slide")
      ("unit-tiles", po::value<int64_t>()->default_value(256), "tiles per work unit")
      ("checkpoint-interval", po::value<double>()->default_value(60.0), "seconds between checkpoints")
      ("batch-size", po::value<int>()->default_value(0), "patches per batch (0: the rule's, 8 on a CPU)")
      // Not --tune: mpirun takes that for its own option anywhere on the command line.
      ("autotune", po::bool_switch(),
       "measure the numeric configuration (layout, optimize_for_inference, batch size; bf16 with --precision auto) "
       "instead of the rule, or take it from the tuning cache; a resume runs the recorded one")
      ("tuning-cache", po::value<std::string>()->default_value(""),
       "the tuning cache file (default: $XDG_CACHE_HOME/wsi-mpi/tuning.json, else ~/.cache/wsi-mpi/tuning.json)")
      ("readers", po::value<int>()->default_value(0), "reader threads per rank (0: from the cores)")
      ("cpu-workers", po::value<int>()->default_value(0),
       "threads per rank for planning and maps, beside inference (0: the rank's share of the cores)")
      ("feature-dtype", po::value<std::string>()->default_value("float32"), "float32 | float16")
      ("retry-failed", po::bool_switch(), "on resume, run failed slides again");
  return o;
}

template <typename T>
T get(const po::variables_map& vm, const char* name) {
  return vm[name].as<T>();
}

Job job_from(const po::variables_map& vm) {
  Job job;
  if (vm.count("slides")) job.slides = get<std::string>(vm, "slides");
  if (vm.count("output")) job.output = get<std::string>(vm, "output");
  job.overwrite = get<bool>(vm, "overwrite");
  job.mode = parse_job_mode(get<std::string>(vm, "mode"));
  job.tile_rule = parse_tile_rule(get<std::string>(vm, "tile-rule"), job.mode);
  job.model = model_options_from(vm);
  try {
    job.resolution = {get<double>(vm, "resolution"), parse_units(get<std::string>(vm, "units"))};
    job.overview = {get<double>(vm, "overview-resolution"), parse_units(get<std::string>(vm, "overview-units"))};
    job.thumbnail = {get<double>(vm, "thumbnail-resolution"), parse_units(get<std::string>(vm, "thumbnail-units"))};
    job.tissue_mask = parse_mask_method(get<std::string>(vm, "tissue-mask"));
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument(std::string("bad option: ") + e.what());
  }
  job.patch = get<int>(vm, "patch");
  job.stride = get<int>(vm, "stride");
  job.mpp_override = get<double>(vm, "mpp-override");
  job.unit_tiles = get<int64_t>(vm, "unit-tiles");
  job.checkpoint_interval = get<double>(vm, "checkpoint-interval");
  job.batch_size = get<int>(vm, "batch-size");
  job.readers = get<int>(vm, "readers");
  job.cpu_workers = get<int>(vm, "cpu-workers");
  job.keep_thumbnail = !get<bool>(vm, "no-thumbnail");
  const std::string dtype = get<std::string>(vm, "feature-dtype");
  if (dtype != "float32" && dtype != "float16")
    throw std::invalid_argument("--feature-dtype: expected float32 or float16, got '" + dtype + "'");
  job.features_float16 = dtype == "float16";
  job.retry_failed = get<bool>(vm, "retry-failed");
  job.autotune = get<bool>(vm, "autotune");
  job.tuning_cache = get<std::string>(vm, "tuning-cache");
  validate(job);
  return job;
}

int outcome_status(JobOutcome outcome) {
  switch (outcome) {
    case JobOutcome::complete: return kExitOk;
    case JobOutcome::some_slides_failed: return kExitSomeSlidesFailed;
    case JobOutcome::all_slides_failed: return kExitJobFailed;
    case JobOutcome::stopped: return kExitResumable;
  }
  return kExitJobFailed;
}

using Stages = JobOutcome (*)(const Job&, const Comm&, const AbortJob&);

int job_command(const std::string& command, int argc, char** argv, Stages stages) {
  const auto options = run_options(command);
  Job job;
  std::string bad_options;
  try {
    const auto vm = parse_with_job_file(argc, argv, options, {"slides", "output", "model", "weights", "tuning-cache"});
    if (vm.count("help")) {
      std::cout << options << std::endl;
      return kExitOk;
    }
    job = job_from(vm);
  } catch (const std::exception& e) {
    bad_options = e.what();
  }
  // A file-size limit (ulimit -f, a quota) then fails the write with EFBIG, which ends the job
  // cleanly on every rank, instead of killing this rank with SIGXFSZ.
  std::signal(SIGXFSZ, SIG_IGN);
  MpiSession mpi(&argc, &argv);
  const Comm world = Comm::world();
  setup_logging(world.rank());
  return on_every_rank(command, world, [&] {
    // Every rank checks its own options (MPMD command lines may differ) before any other step.
    agree_on(world, "options", bad_options.empty() ? StepResult::ok : StepResult::refused, bad_options);
    const AbortJob abort_job = [] { MpiSession::abort(kExitJobFailed); };
    if (job.overwrite && std::getenv("SLURM_RESTART_COUNT") && std::atoi(std::getenv("SLURM_RESTART_COUNT")) > 0) {
      if (world.rank() == 0)
        spdlog::warn("--overwrite ignored: this is requeued Slurm run {} of the job, which resumes what the "
                     "first run started",
                     std::getenv("SLURM_RESTART_COUNT"));
      job.overwrite = false;
    }
    return outcome_status(stages(job, world, abort_job));
  });
}

}  // namespace

int run_command(int argc, char** argv) { return job_command("run", argc, argv, run_job); }

int plan_command(int argc, char** argv) { return job_command("plan", argc, argv, plan_job); }

}  // namespace wsi::cli
