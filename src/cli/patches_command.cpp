// `wsi-mpi patches`: classify labelled patch images (a folder of class folders, or a CSV
// file,label) with a model, and report accuracy and the row-normalised confusion matrix, as
// TIAToolbox's patch-prediction tutorial does. One process, no MPI.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <future>
#include <iostream>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include <spdlog/spdlog.h>

#include "cli/cli.hpp"
#include "cli/options.hpp"
#include "util/csv.hpp"
#include "util/exclusive_file.hpp"
#include "wsi/batch/patch_batch.hpp"
#include "wsi/patches/metrics.hpp"
#include "wsi/patches/patch_dataset.hpp"

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

struct Settings {
  std::string input, output;
  int batch_size = 0;  // 0: the batch size of the model's numeric configuration
  ModelOptions model;
};

Settings settings_from(const po::variables_map& vm) {
  Settings s;
  if (!vm.count("input")) throw std::invalid_argument("--input is required (a folder of class folders or a CSV)");
  s.input = vm["input"].as<std::string>();
  if (!fs::exists(s.input)) throw std::invalid_argument("--input: no such file or folder " + s.input);
  if (vm.count("output")) s.output = vm["output"].as<std::string>();
  const int batch = vm["batch-size"].as<int>();
  if (batch < 0) throw std::invalid_argument("--batch-size must not be negative");
  s.batch_size = batch;
  s.model = model_options_from(vm);
  s.model.batch_size = batch;
  if (s.model.threads == 0) s.model.threads = std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  return s;
}

std::unique_ptr<Model> load_classifier(const ModelOptions& options) {
  std::unique_ptr<Model> model;
  try {
    model = load_model(options);
  } catch (const std::exception& e) {
    throw UsageError(std::string("--model: ") + e.what());
  }
  const ModelDescription& d = model->description();
  if (d.output == ModelOutput::features || d.class_names.empty())
    throw UsageError("--model: " + options.model + " gives no class probabilities (give --classes, and not --model-output features)");
  if (d.input_width <= 0 || d.input_height <= 0)
    throw UsageError("--model: " + options.model + " declares no input size");
  return model;
}

// One batch read from disk: pixels of the images that could be read, and which ones they are.
struct Batch {
  std::vector<uint8_t> pixels;
  std::vector<size_t> index;  // into the dataset
};

class Reader {
 public:
  Reader(const std::vector<LabelledPatch>& patches, int width, int height)
      : patches_(patches), width_(width), height_(height) {}

  Batch read(size_t first, size_t count) {
    Batch batch;
    const size_t bytes = size_t(width_) * height_ * 3;
    batch.pixels.resize(bytes * count);
    for (size_t i = first; i < first + count; ++i) {
      try {
        const cv::Mat rgb = read_patch_rgb(patches_[i].path);
        if (rgb.cols != width_ || rgb.rows != height_) {
          if (resized_++ == 0)
            spdlog::info("patches are resized to the model's input {}x{} (first: {} is {}x{})", width_, height_,
                         patches_[i].file, rgb.cols, rgb.rows);
        }
        fit_to_input(rgb, width_, height_, batch.pixels.data() + bytes * batch.index.size());
        batch.index.push_back(i);
      } catch (const std::exception& e) {
        spdlog::warn("skipped {}: {}", patches_[i].file, e.what());
        ++unreadable_;
      }
    }
    batch.pixels.resize(bytes * batch.index.size());
    return batch;
  }

  int64_t resized() const { return resized_; }
  int64_t unreadable() const { return unreadable_; }

 private:
  const std::vector<LabelledPatch>& patches_;
  int width_, height_;
  int64_t resized_ = 0, unreadable_ = 0;
};

std::string number(double value, const char* format) {
  if (std::isnan(value)) return "nan";
  char text[64];
  std::snprintf(text, sizeof text, format, value);
  return text;
}

void write_outputs(const std::string& dir, const std::vector<LabelledPatch>& patches, const std::vector<size_t>& done,
                   const std::vector<float>& probabilities, const std::vector<int>& predicted,
                   const ConfusionMatrix& matrix) {
  std::error_code error;
  fs::create_directories(dir, error);
  if (error) throw std::runtime_error("--output: cannot create " + dir + ": " + error.message());
  const auto& classes = matrix.classes;
  const size_t n_classes = classes.size();
  const std::string predictions_path = (fs::path(dir) / "predictions.csv").string();
  std::ostringstream predictions;
  predictions << "file,label,prediction";
  for (const auto& c : classes) predictions << ',' << csv_field(c);
  predictions << '\n';
  for (size_t k = 0; k < done.size(); ++k) {
    const LabelledPatch& p = patches[done[k]];
    predictions << csv_field(p.file) << ',' << csv_field(p.label) << ',' << csv_field(classes[predicted[k]]);
    for (size_t c = 0; c < n_classes; ++c) predictions << ',' << number(probabilities[k * n_classes + c], "%.9g");
    predictions << '\n';
  }
  write_file_atomically(predictions_path, predictions.str());

  const std::string confusion_path = (fs::path(dir) / "confusion.csv").string();
  std::ostringstream confusion;
  confusion << "label";
  for (const auto& c : classes) confusion << ',' << csv_field(c);
  confusion << '\n';
  const auto rows = matrix.normalised();
  for (size_t t = 0; t < n_classes; ++t) {
    confusion << csv_field(classes[t]);
    for (size_t p = 0; p < n_classes; ++p) confusion << ',' << number(rows[t * n_classes + p], "%.17g");
    confusion << '\n';
  }
  write_file_atomically(confusion_path, confusion.str());
  spdlog::info("wrote {} and {}", predictions_path, confusion_path);
}

// The patches' probabilities, reading the next batch while the model works on this one.
// Returns the indices classified (unreadable images are skipped) and their probabilities.
struct Predictions {
  std::vector<size_t> done;
  std::vector<float> probabilities;  // done.size() x classes
};

Predictions predict_all(const std::vector<LabelledPatch>& patches, Model& model, Reader& reader, size_t batch) {
  const size_t n_classes = model.description().class_names.size();
  Predictions out;
  std::future<Batch> next = std::async(std::launch::async, [&] { return reader.read(0, std::min(batch, patches.size())); });
  for (size_t first = 0; first < patches.size(); first += batch) {
    Batch current = next.get();
    const size_t following = first + batch;
    if (following < patches.size())
      next = std::async(std::launch::async,
                        [&, following] { return reader.read(following, std::min(batch, patches.size() - following)); });
    if (current.index.empty()) continue;
    const BatchResult result = model.run(current.pixels.data(), static_cast<int>(current.index.size()), true, false);
    if (result.probabilities.size() != current.index.size() * n_classes)
      throw std::runtime_error("the model gave " + std::to_string(result.probabilities.size()) + " values for " +
                               std::to_string(current.index.size()) + " patches of " + std::to_string(n_classes) +
                               " classes");
    out.done.insert(out.done.end(), current.index.begin(), current.index.end());
    out.probabilities.insert(out.probabilities.end(), result.probabilities.begin(), result.probabilities.end());
  }
  return out;
}

// Scores: labels that are model classes; others are named once. `predicted` receives the argmax.
ConfusionMatrix score(const std::vector<LabelledPatch>& patches, const std::vector<std::string>& classes,
                      const Predictions& p, std::vector<int>& predicted) {
  const size_t n_classes = classes.size();
  std::map<std::string, int> class_index;
  for (size_t c = 0; c < n_classes; ++c) class_index.emplace(classes[c], static_cast<int>(c));
  std::vector<int> truth(p.done.size(), -1);
  predicted.assign(p.done.size(), 0);
  std::map<std::string, int64_t> foreign;
  int64_t unlabelled = 0;
  for (size_t k = 0; k < p.done.size(); ++k) {
    predicted[k] = argmax(p.probabilities.data() + k * n_classes, static_cast<int>(n_classes));
    const std::string& label = patches[p.done[k]].label;
    const auto found = class_index.find(label);
    if (label.empty()) ++unlabelled;
    else if (found == class_index.end()) ++foreign[label];
    else truth[k] = found->second;
  }
  if (!foreign.empty()) {
    std::string names;
    for (const auto& [label, count] : foreign) names += (names.empty() ? "" : ", ") + label + " (" + std::to_string(count) + ")";
    spdlog::warn("labels that are not among the model's classes, predicted but left out of the accuracy: {}", names);
  }
  if (unlabelled > 0) spdlog::info("{} unlabelled patches predicted, not scored", unlabelled);
  return confusion_matrix(classes, truth, predicted);
}

int classify(const Settings& s) {
  std::vector<LabelledPatch> patches;
  try {
    patches = read_patch_dataset(s.input);
  } catch (const std::exception& e) {
    throw UsageError(std::string("--input: ") + e.what());
  }
  if (patches.empty()) {
    print_error("patches", "no patch images in " + s.input);
    return kExitJobFailed;
  }
  auto model = load_classifier(s.model);
  const ModelDescription& d = model->description();
  const int batch = model->configuration().batch_size;
  spdlog::info("{} patches from {}; model {} ({} classes, input {}x{}), batches of {}, {} threads", patches.size(),
               s.input, s.model.model, d.class_names.size(), d.input_width, d.input_height, batch, s.model.threads);
  Reader reader(patches, d.input_width, d.input_height);
  const Predictions p = predict_all(patches, *model, reader, static_cast<size_t>(batch));
  if (reader.resized() > 0) spdlog::info("{} patches resized to {}x{}", reader.resized(), d.input_width, d.input_height);
  if (reader.unreadable() > 0)
    spdlog::warn("{} of {} images could not be read and were skipped", reader.unreadable(), patches.size());
  if (p.done.empty()) {
    print_error("patches", "no image could be classified (" + std::to_string(patches.size()) + " unreadable)");
    return kExitJobFailed;
  }
  std::vector<int> predicted;
  const ConfusionMatrix matrix = score(patches, d.class_names, p, predicted);
  std::cout << "patches: " << p.done.size() << " classified, " << matrix.total << " scored";
  if (reader.unreadable() > 0) std::cout << ", " << reader.unreadable() << " unreadable (skipped)";
  std::cout << "\naccuracy: " << number(matrix.accuracy(), "%.6f") << " (" << matrix.correct << " of "
            << matrix.total << ")\n"
            << "confusion matrix (rows: true class, columns: predicted; each row divided by its count):\n"
            << format_confusion(matrix) << std::flush;
  if (!s.output.empty()) write_outputs(s.output, patches, p.done, p.probabilities, predicted, matrix);
  return kExitOk;
}

}  // namespace

int patches_command(int argc, char** argv) {
  return run_subcommand("patches", argc, argv, patches_options(), nullptr,
                        [](const po::variables_map& vm) { return classify(settings_from(vm)); });
}

}  // namespace wsi::cli
