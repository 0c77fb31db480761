// Patch mode's metrics: accuracy and the row-normalised confusion matrix, as TIAToolbox's
// patch-prediction tutorial computes them (sklearn's accuracy_score and
// confusion_matrix(..., normalize="true")), with a NaN row for a class with no samples.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace wsi {

struct ConfusionMatrix {
  std::vector<std::string> classes;
  std::vector<int64_t> counts;  // classes x classes, row = true class, column = predicted
  int64_t total = 0;            // samples counted (truth >= 0)
  int64_t correct = 0;

  int64_t count(size_t truth, size_t predicted) const { return counts[truth * classes.size() + predicted]; }
  int64_t row_total(size_t truth) const;
  // correct / total; NaN when nothing was counted.
  double accuracy() const;
  // Each row divided by its count (a row with no samples: all NaN); classes x classes.
  std::vector<double> normalised() const;
};

// truth[i] and predicted[i] are class indices; truth < 0 marks a sample left out (unlabelled, or
// a label that is not a class). Throws std::invalid_argument for mismatched sizes or an index
// out of range.
ConfusionMatrix confusion_matrix(const std::vector<std::string>& classes, const std::vector<int>& truth,
                                 const std::vector<int>& predicted);

// The normalised matrix as an aligned text table: a header row of predicted classes, one row
// per true class with its values (`decimals` places, "nan" for an empty row) and its count.
std::string format_confusion(const ConfusionMatrix& matrix, int decimals = 4);

// `value` through printf's `format` (one double), or "nan" for NaN: how accuracies and
// probabilities are printed and written to the CSV files.
std::string format_metric(double value, const char* format);

// Index of the largest value (the first one on ties); -1 for an empty range.
int argmax(const float* values, int n);

}  // namespace wsi
