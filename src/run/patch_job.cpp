// The patch job, see include/wsi/run/patch_job.hpp.
#include "wsi/run/patch_job.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <future>
#include <map>
#include <sstream>
#include <stdexcept>

#include <spdlog/spdlog.h>

#include "util/csv.hpp"
#include "util/exclusive_file.hpp"
#include "wsi/batch/patch_batch.hpp"

namespace wsi {
namespace {

namespace fs = std::filesystem;

std::unique_ptr<Model> load_classifier(const ModelOptions& options) {
  std::unique_ptr<Model> model;
  try {
    model = load_model(options);
  } catch (const std::exception& e) {
    throw std::invalid_argument(std::string("--model: ") + e.what());
  }
  const ModelDescription& d = model->description();
  if (d.output == ModelOutput::features || d.class_names.empty())
    throw std::invalid_argument("--model: " + options.model + " gives no class probabilities (give --classes, and not --model-output features)");
  if (d.input_width <= 0 || d.input_height <= 0)
    throw std::invalid_argument("--model: " + options.model + " declares no input size");
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
    for (size_t c = 0; c < n_classes; ++c) predictions << ',' << format_metric(probabilities[k * n_classes + c], "%.9g");
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
    for (size_t p = 0; p < n_classes; ++p) confusion << ',' << format_metric(rows[t * n_classes + p], "%.17g");
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

}  // namespace

PatchJobResult run_patch_job(const PatchJob& job) {
  std::vector<LabelledPatch> patches;
  try {
    patches = read_patch_dataset(job.input);
  } catch (const std::exception& e) {
    throw std::invalid_argument(std::string("--input: ") + e.what());
  }
  if (patches.empty()) throw std::runtime_error("no patch images in " + job.input);
  auto model = load_classifier(job.model);
  const ModelDescription& d = model->description();
  const int batch = model->configuration().batch_size;
  spdlog::info("{} patches from {}; model {} ({} classes, input {}x{}), batches of {}, {} threads", patches.size(),
               job.input, job.model.model, d.class_names.size(), d.input_width, d.input_height, batch,
               job.model.threads);
  Reader reader(patches, d.input_width, d.input_height);
  const Predictions p = predict_all(patches, *model, reader, static_cast<size_t>(batch));
  PatchJobResult result;
  result.patches = static_cast<int64_t>(patches.size());
  result.classified = static_cast<int64_t>(p.done.size());
  result.unreadable = reader.unreadable();
  result.resized = reader.resized();
  if (result.resized > 0) spdlog::info("{} patches resized to {}x{}", result.resized, d.input_width, d.input_height);
  if (result.unreadable > 0)
    spdlog::warn("{} of {} images could not be read and were skipped", result.unreadable, patches.size());
  if (p.done.empty())
    throw std::runtime_error("no image could be classified (" + std::to_string(patches.size()) + " unreadable)");
  std::vector<int> predicted;
  result.matrix = score(patches, d.class_names, p, predicted);
  if (!job.output.empty()) write_outputs(job.output, patches, p.done, p.probabilities, predicted, result.matrix);
  return result;
}

}  // namespace wsi
