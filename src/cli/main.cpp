// wsi-mpi: the entry point. Dispatches to a subcommand; every failure becomes one clean line on
// stderr and an exit status.
#include <malloc.h>

#include <cstring>
#include <iostream>
#include <map>

#include <spdlog/spdlog.h>

#include "cli/cli.hpp"

namespace {

const char* kUsage = R"(usage: wsi-mpi <command> [options]

Classify, or extract deep features from, every tissue patch of a cohort of whole-slide images,
over MPI ranks, into one parallel-HDF5 cohort file.

commands:
  run        run a job (srun wsi-mpi run --job job.ini, or mpirun -n N wsi-mpi run ...)
  plan       only plan a job into its cohort file (CPU nodes, no GPU); `run` continues from it
  synth      write a synthetic cohort, a demo model and a job file
  patches    classify labelled patch images: accuracy and confusion matrix
  render     draw each done slide's prediction map over its thumbnail, with a legend (PNG)
  inspect    summarise a cohort file: slides, status, tiles, progress, resumable? (--json)
  export     write per-slide CLAM h5/pt features or QuPath GeoJSON tiles
  aggregate  one embedding per slide from its tile features (mean or a slide encoder), over ranks
  umap       a UMAP of the tile features (per slide or cohort-wide) into the cohort file, over ranks

`wsi-mpi <command> --help` describes each command's options; `wsi-mpi --version` prints the version.
)";

}  // namespace

int main(int argc, char** argv) {
  using namespace wsi::cli;
  // Slide regions and thumbnail strips are buffers of up to 16 MiB, made and freed per read on
  // many threads. By default glibc maps the large ones afresh and trims freed arena memory, so
  // each read pays a page fault per 4 KiB: a quarter of the planning time of a small slide.
  // Reused in the process instead (64 MiB kept free per arena at most).
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 64 << 20);
  const std::map<std::string, int (*)(int, char**)> commands = {
      {"run", run_command},
      {"plan", plan_command},
      {"synth", synth_command},
      {"patches", patches_command},
      {"render", render_command},
      {"inspect", inspect_command},
      {"export", export_command},
      {"aggregate", aggregate_command},
      {"umap", umap_command},
  };
  if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h")) {
    std::cout << kUsage;
    return argc < 2 ? wsi::cli::kExitUsage : wsi::cli::kExitOk;
  }
  if (!std::strcmp(argv[1], "--version")) {
    std::cout << "wsi-mpi " << WSI_MPI_VERSION << std::endl;
    return wsi::cli::kExitOk;
  }
  const auto command = commands.find(argv[1]);
  if (command == commands.end()) {
    print_error(argv[1], "unknown command (see wsi-mpi --help)");
    return wsi::cli::kExitUsage;
  }
  return command->second(argc - 1, argv + 1);
}
