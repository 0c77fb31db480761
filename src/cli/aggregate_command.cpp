// `wsi-mpi aggregate FILE.h5 --model mean|SLIDE_ENCODER.pt [--output-name NAME]`: one embedding
// per done slide, spread over the ranks of `srun`/`mpirun` (see wsi/run/aggregate.hpp).
#include <filesystem>
#include <memory>

#include <spdlog/spdlog.h>

#include "cli/cli.hpp"
#include "cli/options.hpp"
#include "cli/rank_errors.hpp"
#include "wsi/run/aggregate.hpp"

namespace wsi::cli {
namespace {

po::options_description aggregate_options() {
  po::options_description o(
      "wsi-mpi aggregate FILE.h5 --model mean|SLIDE_ENCODER.pt [--output-name NAME]\n\n"
      "One embedding per done slide of a cohort file made with --mode features or both, into\n"
      "/slides/embeddings/NAME (S x E float32, row = slide; rows of slides not done stay 0 and their\n"
      "flag in /progress/embeddings/NAME stays 0). --model mean: the mean of the slide's tile features\n"
      "(E = D). Otherwise a TorchScript slide encoder whose forward takes (features [N, D] float32,\n"
      "coords [N, 2] int64: the level-0 top-left of each tile, as CLAM's coords) and returns [E].\n"
      "Run it under srun/mpirun to spread the slides over ranks; run it again after a stop to resume.\n"
      "Exit 0 done; 1 failed; 2 bad options or file, or NAME made by another model (give another name).\n\n"
      "Options");
  o.add_options()
      ("help,h", "show this help")
      ("file", po::value<std::string>(), "cohort file (FILE.h5; also the first positional argument)")
      ("model", po::value<std::string>()->default_value("mean"), "mean, or a TorchScript slide encoder (.pt)")
      ("output-name", po::value<std::string>(), "name under /slides/embeddings (default: mean, or the encoder's stem)")
      ("threads", po::value<int>()->default_value(0), "LibTorch threads per rank (0: its default)")
      ("slides-per-write", po::value<int>()->default_value(8), "a rank's slides between two checkpoints");
  return o;
}

int aggregate(const po::variables_map& vm) {
  if (!vm.count("file")) throw UsageError("no cohort file given (wsi-mpi aggregate FILE.h5 --model mean)");
  AggregateOptions options;
  options.file = vm["file"].as<std::string>();
  if (!std::filesystem::is_regular_file(options.file)) throw UsageError("cohort file '" + options.file + "' does not exist");
  options.model = vm["model"].as<std::string>();
  if (vm.count("output-name")) options.output_name = vm["output-name"].as<std::string>();
  options.threads = vm["threads"].as<int>();
  options.slides_per_write = vm["slides-per-write"].as<int>();
  if (options.threads < 0 || options.slides_per_write < 1)
    throw UsageError("--threads must not be negative and --slides-per-write at least 1");

  MpiSession mpi(nullptr, nullptr);
  const Comm world = Comm::world();
  setup_logging(world.rank());
  return on_every_rank("aggregate", world, [&] {
    const AggregateResult r = aggregate_slides(options, world);
    if (world.rank() == 0)
      spdlog::info("/slides/embeddings/{}: {} slides x {} values ({} computed by this run)", r.name, r.slides, r.size,
                   r.computed);
    return kExitOk;
  });
}

}  // namespace

int aggregate_command(int argc, char** argv) {
  return run_subcommand("aggregate", argc, argv, aggregate_options(), "file", aggregate);
}

}  // namespace wsi::cli
