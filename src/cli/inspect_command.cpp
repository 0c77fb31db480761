// `wsi-mpi inspect FILE.h5 [--json]`: the job, each slide's state and the totals of a cohort file,
// and whether the job can be resumed.
#include <ctime>
#include <filesystem>
#include <iostream>
#include <stdexcept>

#include "util/json.hpp"

#include "cli/cli.hpp"
#include "cli/options.hpp"
#include "wsi/cohort/cohort_file.hpp"
#include "wsi/cohort/inspect.hpp"

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

// The progress file a running job replaces after every epoch (OUT.h5.progress.json): one line
// of live progress, or "" when there is none.
std::string live_progress(const std::string& path) {
  const std::string progress = path + ".progress.json";
  if (!std::filesystem::is_regular_file(progress)) return "";
  try {
    const Json tree = parse_json_file(progress);
    const auto count = [&tree](const char* key) { return std::to_string(tree.at(key).get<int64_t>()); };
    const long age = static_cast<long>(std::time(nullptr)) - tree.at("updated_unix").get<long>();
    return "progress file: " + tree.at("state").get<std::string>() + ", units " + count("units_done") + "/" +
           count("units_total") + ", tiles " + count("tiles_done") + "/" + count("tiles_total") + ", updated " +
           std::to_string(age) + " s ago (" + progress + ")\n";
  } catch (const std::exception&) {
    return "";
  }
}

}  // namespace

int inspect_command(int argc, char** argv) {
  return run_subcommand("inspect", argc, argv, inspect_options(), "file", [](const po::variables_map& vm) {
    if (!vm.count("file")) throw UsageError("no cohort file given (wsi-mpi inspect FILE.h5)");
    if (vm["top"].as<int>() < 0) throw UsageError("--top: must be >= 0");
    const std::string path = vm["file"].as<std::string>();
    const std::string live = live_progress(path);
    CohortSummary summary;
    try {
      if (!std::filesystem::is_regular_file(path)) throw std::runtime_error("cohort file '" + path + "' does not exist");
      summary = read_cohort_summary(path);
    } catch (const std::exception& e) {
      // A file the running job holds locked (some filesystems): its progress file still tells.
      if (!live.empty() && !vm["json"].as<bool>()) {
        std::cout << "cohort file " << path << " cannot be read now (" << e.what() << ")\n" << live;
        return kExitOk;
      }
      throw UsageError(e.what());  // missing, not HDF5, not a cohort file: bad input
    }
    const CohortInspection inspection = inspect_cohort(summary, path, static_cast<size_t>(vm["top"].as<int>()));
    if (vm["json"].as<bool>())
      std::cout << inspection_json(inspection) << std::endl;
    else
      std::cout << inspection_text(inspection) << (summary.end_state == EndState::complete ? "" : live);
    return kExitOk;
  });
}

}  // namespace wsi::cli
