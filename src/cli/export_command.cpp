// `wsi-mpi export FILE.h5 --format clam|geojson|tiatoolbox-zarr|annotation-store --output DIR [--slide ID]`: per done slide, the
// tile results in the formats of downstream tools (see wsi/export/export.hpp).
#include <filesystem>
#include <iostream>
#include <stdexcept>

#include <spdlog/spdlog.h>

#include "cli/cli.hpp"
#include "cli/options.hpp"
#include "wsi/export/export.hpp"

namespace wsi::cli {
namespace {

namespace fs = std::filesystem;

po::options_description export_options() {
  po::options_description o(
      "wsi-mpi export FILE.h5 --format clam|geojson|tiatoolbox-zarr|annotation-store --output DIR [--slide ID]\n\n"
      "Exports every done slide of a cohort file (or the one given); <key> is /slides/key (the slide id\n"
      "unless it has characters unsafe in a file name).\n"
      "  clam     DIR/h5_files/<key>.h5: `features` N x D float32 and `coords` N x 2 int64, the level-0\n"
      "           top-left ceil(x0 * scale), ceil(y0 * scale) of each tile (the box TIAToolbox reads), with\n"
      "           attributes patch_size, patch_level (0), patch_size_level0 (ceil(patch * scale)),\n"
      "           level0_magnification, target_magnification, level0_width, level0_height;\n"
      "           DIR/pt_files/<key>.pt: the features as a tensor for torch.load. Needs features.\n"
      "  geojson  DIR/<key>.geojson: a FeatureCollection of tile polygons in level-0 pixels, each a QuPath\n"
      "           detection classified as its argmax class, with its probabilities. Needs probabilities.\n"
      "  tiatoolbox-zarr   DIR/<stem>.zarr (<stem>: the slide file's name without extension, \"_2\"... added\n"
      "           when two slides share it): the Zarr store TIAToolbox 2.x's engines write, arrays\n"
      "           coordinates (N x 4 int64 x0 y0 x1 y1 at the read resolution), predictions and\n"
      "           probabilities (when the file has them), features (when it has them).\n"
      "  annotation-store  DIR/<stem>.db: TIAToolbox's SQLiteStore, one rectangle per tile in level-0\n"
      "           pixels with properties type (argmax class) and prob_<class>. Needs probabilities.\n"
      "Options");
  o.add_options()
      ("help,h", "show this help")
      ("file", po::value<std::string>(), "cohort file (FILE.h5; also the first positional argument)")
      ("format", po::value<std::string>(), "clam, geojson, tiatoolbox-zarr or annotation-store")
      ("output", po::value<std::string>(), "folder to write (made if missing)")
      ("slide", po::value<std::string>(), "export only this slide (its id, or its key under /maps)");
  return o;
}

int export_files(const po::variables_map& vm) {
  if (!vm.count("file")) throw UsageError("no cohort file given (wsi-mpi export FILE.h5 --format F --output DIR)");
  if (!vm.count("format")) throw UsageError("--format is required (clam, geojson, tiatoolbox-zarr or annotation-store)");
  if (!vm.count("output")) throw UsageError("--output is required");
  const std::string path = vm["file"].as<std::string>();
  if (!fs::is_regular_file(path)) throw UsageError("cohort file '" + path + "' does not exist");
  ExportOptions options;
  options.format = parse_export_format(vm["format"].as<std::string>());
  options.output = vm["output"].as<std::string>();
  if (vm.count("slide")) options.slide = vm["slide"].as<std::string>();
  try {
    read_cohort_summary(path);
  } catch (const std::exception& e) {
    throw UsageError(e.what());  // not a cohort file, or not one this version reads
  }
  const std::vector<std::string> written = export_cohort(path, options);
  for (const auto& file : written) std::cout << file << std::endl;
  spdlog::info("exported {} file(s) into {}", written.size(), options.output);
  return kExitOk;
}

}  // namespace

int export_command(int argc, char** argv) {
  return run_subcommand("export", argc, argv, export_options(), "file", export_files);
}

}  // namespace wsi::cli
