// `wsi-mpi patches`: classify labelled patch images (a folder of class folders, or a CSV
// file,label) with a model, and report accuracy and the row-normalised confusion matrix, as
// TIAToolbox's patch-prediction tutorial does. One process, no MPI.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <thread>

#include "cli/cli.hpp"
#include "cli/options.hpp"
#include "wsi/run/patch_job.hpp"

namespace wsi::cli {
namespace {

namespace fs = std::filesystem;

po::options_description patches_options() {
  po::options_description o(
      "wsi-mpi patches --input DIR|LIST.csv [--model M --weights W.pth] [--output DIR] [options]\n\n"
      "Classifies labelled patch images and prints the accuracy and the row-normalised confusion\n"
      "matrix (rows: true class, columns: predicted; a class with no samples has a nan row).\n"
      "  DIR:      DIR/<class>/<image>, the label is the folder's name (.png .tif .tiff .jpg .jpeg)\n"
      "  LIST.csv: header with `file` and `label` columns, paths relative to the CSV; an empty\n"
      "            label marks an unlabelled patch (predicted, not scored)\n"
      "Images are read as RGB and resized to the model's input when their size differs. Labels\n"
      "that are not among the model's classes are predicted but left out of the accuracy (with a\n"
      "warning). An image that cannot be read is skipped with a warning and counted; exit 1 only\n"
      "when no image could be classified. --output DIR writes DIR/predictions.csv\n"
      "(file,label,prediction,<one probability column per class>) and DIR/confusion.csv.\n"
      "Exit 0 done; 1 nothing classified or outputs not written; 2 bad options, input or model.\n\n"
      "Options");
  o.add_options()
      ("help,h", "show this help")
      ("input", po::value<std::string>(), "folder of class folders, or CSV file,label")
      ("output", po::value<std::string>(), "folder for predictions.csv and confusion.csv (created)")
      ("batch-size", po::value<int>()->default_value(0), "patches per batch (0: the model's numeric configuration's batch size)");
  add_model_options(o);
  return o;
}

PatchJob job_from(const po::variables_map& vm) {
  PatchJob s;
  if (!vm.count("input")) throw std::invalid_argument("--input is required (a folder of class folders or a CSV)");
  s.input = vm["input"].as<std::string>();
  if (!fs::exists(s.input)) throw std::invalid_argument("--input: no such file or folder " + s.input);
  if (vm.count("output")) s.output = vm["output"].as<std::string>();
  const int batch = vm["batch-size"].as<int>();
  if (batch < 0) throw std::invalid_argument("--batch-size must not be negative");
  s.model = model_options_from(vm);
  s.model.batch_size = batch;
  if (s.model.threads == 0) s.model.threads = std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  return s;
}

int classify(const PatchJob& job) {
  const PatchJobResult r = run_patch_job(job);
  std::cout << "patches: " << r.classified << " classified, " << r.matrix.total << " scored";
  if (r.unreadable > 0) std::cout << ", " << r.unreadable << " unreadable (skipped)";
  std::cout << "\naccuracy: " << format_metric(r.matrix.accuracy(), "%.6f") << " (" << r.matrix.correct << " of "
            << r.matrix.total << ")\n"
            << "confusion matrix (rows: true class, columns: predicted; each row divided by its count):\n"
            << format_confusion(r.matrix) << std::flush;
  return kExitOk;
}

}  // namespace

int patches_command(int argc, char** argv) {
  return run_subcommand("patches", argc, argv, patches_options(), nullptr,
                        [](const po::variables_map& vm) { return classify(job_from(vm)); });
}

}  // namespace wsi::cli
