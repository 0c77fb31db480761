// `wsi-mpi umap FILE.h5 [--scope slide|cohort] [UMAP options]`: a 3-D UMAP of the tile features
// into /tiles/umap, over the ranks of `srun`/`mpirun` (see wsi/run/umap.hpp).
#include <filesystem>
#include <memory>

#include <spdlog/spdlog.h>

#include "cli/cli.hpp"
#include "cli/options.hpp"
#include "cli/rank_errors.hpp"
#include "wsi/run/umap.hpp"

namespace wsi::cli {
namespace {

po::options_description umap_options() {
  po::options_description o(
      "wsi-mpi umap FILE.h5 [--scope slide|cohort] [--n-neighbors 10] [--n-components 3] [--metric manhattan]\n"
      "                     [--spread 0.5] [--min-dist 0.1] [--seed 2] [--sample-size 20000]\n\n"
      "A UMAP embedding of the tile features of a cohort file made with --mode features or both, into\n"
      "/tiles/umap (tiles x n_components float32, the rows of /tiles/features; rows of slides not done stay 0,\n"
      "their flag in /progress/umap stays 0). The defaults are TIAToolbox's tutorial's (umap-learn with\n"
      "n_neighbors 10, n_components 3, manhattan, spread 0.5, random_state 2). --scope slide: one embedding per\n"
      "slide. --scope cohort: one embedding fitted on a sample of tiles drawn over all done slides, every other\n"
      "tile transformed into it (colours comparable between slides). The same file, options and seed give the\n"
      "same bits whatever the rank count. Run it under srun/mpirun to spread the slides over ranks; run it again\n"
      "after a stop to resume. `render` then draws DIR/<slide key>.umap.png.\n"
      "Exit 0 done; 1 failed; 2 bad options or file, or /tiles/umap made with other options.\n\n"
      "Options");
  o.add_options()
      ("help,h", "show this help")
      ("file", po::value<std::string>(), "cohort file (FILE.h5; also the first positional argument)")
      ("scope", po::value<std::string>()->default_value("slide"), "slide (one embedding per slide) or cohort")
      ("n-neighbors", po::value<int>()->default_value(10), "neighbours of each tile, itself included (>= 2)")
      ("n-components", po::value<int>()->default_value(3), "dimensions of the embedding (1..64; render draws 3)")
      ("metric", po::value<std::string>()->default_value("manhattan"), "manhattan, euclidean or cosine")
      ("spread", po::value<double>()->default_value(0.5, "0.5"), "scale of the embedded points (> 0)")
      ("min-dist", po::value<double>()->default_value(0.1, "0.1"), "closest embedded distance, [0, 3 x spread)")
      ("seed", po::value<uint64_t>()->default_value(2), "random seed (every slide gets its own stream of it)")
      ("sample-size", po::value<int64_t>()->default_value(20000), "--scope cohort: tiles in the fit (> n-neighbors)")
      ("threads", po::value<int>()->default_value(1), "threads per rank for the neighbour search (never changes the result)")
      ("slides-per-write", po::value<int>()->default_value(8), "a rank's slides between two checkpoints");
  return o;
}

UmapJobOptions parse(const po::variables_map& vm) {
  if (!vm.count("file")) throw UsageError("no cohort file given (wsi-mpi umap FILE.h5)");
  UmapJobOptions o;
  o.file = vm["file"].as<std::string>();
  if (!std::filesystem::is_regular_file(o.file)) throw UsageError("cohort file '" + o.file + "' does not exist");
  const std::string scope = vm["scope"].as<std::string>();
  if (scope != "slide" && scope != "cohort") throw UsageError("--scope: expected slide or cohort");
  o.scope = scope == "slide" ? UmapScope::slide : UmapScope::cohort;
  o.umap.n_neighbors = vm["n-neighbors"].as<int>();
  o.umap.n_components = vm["n-components"].as<int>();
  o.umap.spread = vm["spread"].as<double>();
  o.umap.min_dist = vm["min-dist"].as<double>();
  o.umap.seed = vm["seed"].as<uint64_t>();
  o.umap.threads = vm["threads"].as<int>();
  o.sample_size = vm["sample-size"].as<int64_t>();
  o.slides_per_write = vm["slides-per-write"].as<int>();
  try {
    o.umap.metric = parse_umap_metric(vm["metric"].as<std::string>());
    check_umap_parameters(o.umap);
  } catch (const std::invalid_argument& e) {
    throw UsageError(e.what());
  }
  if (o.sample_size <= o.umap.n_neighbors) throw UsageError("--sample-size must be larger than --n-neighbors");
  if (o.slides_per_write < 1) throw UsageError("--slides-per-write must be at least 1");
  return o;
}

int umap(const po::variables_map& vm) {
  const UmapJobOptions options = parse(vm);
  MpiSession mpi(nullptr, nullptr);
  const Comm world = Comm::world();
  setup_logging(world.rank());
  return on_every_rank("umap", world, [&] {
    const UmapJobResult r = umap_tiles(options, world);
    if (world.rank() == 0)
      spdlog::info("/tiles/umap: {} slides ({} computed by this run{})", r.slides, r.computed,
                   r.fitted ? ", cohort fit on " + std::to_string(r.fitted) + " tiles" : std::string());
    return kExitOk;
  });
}

}  // namespace

int umap_command(int argc, char** argv) { return run_subcommand("umap", argc, argv, umap_options(), "file", umap); }

}  // namespace wsi::cli
