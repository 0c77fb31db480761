// `wsi-mpi inspect FILE.h5 [--json]`: the job, each slide's state and the totals of a cohort file,
// and whether the job can be resumed.
#include <filesystem>
#include <iostream>
#include <stdexcept>

#include "cli/cli.hpp"
#include "cli/options.hpp"
#include "wsi/cohort/cohort_file.hpp"
#include "wsi/render/inspect.hpp"
#include "wsi/schedule/job_runner.hpp"

namespace wsi::cli {
namespace {

po::options_description inspect_options() {
  po::options_description o("wsi-mpi inspect FILE.h5 [--json]\n\n"
                            "Summarises a cohort file: the job (mode, model, resolution), each slide's status,\n"
                            "error, tile count and top classes, the units and tiles done, and whether the job\n"
                            "can be resumed. Works on a finished, failed or interrupted run. Options");
  o.add_options()
      ("help,h", "show this help")
      ("file", po::value<std::string>(), "cohort file (FILE.h5; also the first positional argument)")
      ("json", po::bool_switch(), "print one JSON object instead of text")
      ("top", po::value<int>()->default_value(3), "classes listed per slide");
  return o;
}

}  // namespace

int inspect_command(int argc, char** argv) {
  return run_subcommand("inspect", argc, argv, inspect_options(), "file", [](const po::variables_map& vm) {
    if (!vm.count("file")) throw UsageError("no cohort file given (wsi-mpi inspect FILE.h5)");
    if (vm["top"].as<int>() < 0) throw UsageError("--top: must be >= 0");
    const std::string path = vm["file"].as<std::string>();
    CohortSummary summary;
    try {
      if (!std::filesystem::is_regular_file(path)) throw std::runtime_error("cohort file '" + path + "' does not exist");
      summary = read_cohort_summary(path);
    } catch (const std::exception& e) {
      throw UsageError(e.what());  // missing, not HDF5, not a cohort file: bad input
    }
    const CohortInspection inspection = inspect_cohort(summary, path, static_cast<size_t>(vm["top"].as<int>()));
    if (vm["json"].as<bool>())
      std::cout << inspection_json(inspection) << std::endl;
    else
      std::cout << inspection_text(inspection);
    return kExitOk;
  });
}

}  // namespace wsi::cli
