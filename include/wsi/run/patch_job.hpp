// `wsi-mpi patches` as a job (TIAToolbox's patch-prediction tutorial): labelled patch images in,
// the model's probabilities, accuracy and row-normalised confusion matrix out, and optionally
// DIR/predictions.csv and DIR/confusion.csv. One process, no MPI; the next batch is read while
// the model runs the current one. The CLI (src/cli/patches_command.cpp) parses and prints.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "wsi/model/model.hpp"
#include "wsi/patches/metrics.hpp"
#include "wsi/patches/patch_dataset.hpp"

namespace wsi {

struct PatchJob {
  std::string input;   // a folder of class folders, or a CSV file,label
  std::string output;  // "" = no files
  ModelOptions model;
};

struct PatchJobResult {
  int64_t patches = 0;     // in the input
  int64_t classified = 0;  // read and run through the model
  int64_t unreadable = 0;  // skipped, each with a warning
  int64_t resized = 0;     // not of the model's input size
  ConfusionMatrix matrix;  // over the classified patches whose label is a model class
};

// Throws std::invalid_argument (the job cannot run as asked: an unreadable input, a model that
// does not load or gives no class probabilities) or std::runtime_error (no patch image in the
// input, none could be classified, the outputs could not be written), naming the file.
PatchJobResult run_patch_job(const PatchJob& job);

}  // namespace wsi
