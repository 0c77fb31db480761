// Accuracy and confusion matrix, see wsi/patches/metrics.hpp.
#include "wsi/patches/metrics.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <sstream>
#include <stdexcept>

namespace wsi {

int64_t ConfusionMatrix::row_total(size_t truth) const {
  int64_t sum = 0;
  for (size_t p = 0; p < classes.size(); ++p) sum += count(truth, p);
  return sum;
}

double ConfusionMatrix::accuracy() const {
  return total > 0 ? double(correct) / double(total) : std::numeric_limits<double>::quiet_NaN();
}

std::vector<double> ConfusionMatrix::normalised() const {
  const size_t n = classes.size();
  std::vector<double> rows(n * n, std::numeric_limits<double>::quiet_NaN());
  for (size_t t = 0; t < n; ++t) {
    const int64_t sum = row_total(t);
    if (sum == 0) continue;
    for (size_t p = 0; p < n; ++p) rows[t * n + p] = double(count(t, p)) / double(sum);
  }
  return rows;
}

ConfusionMatrix confusion_matrix(const std::vector<std::string>& classes, const std::vector<int>& truth,
                                 const std::vector<int>& predicted) {
  if (truth.size() != predicted.size())
    throw std::invalid_argument("confusion_matrix: " + std::to_string(truth.size()) + " labels but " +
                                std::to_string(predicted.size()) + " predictions");
  const int n = static_cast<int>(classes.size());
  ConfusionMatrix m;
  m.classes = classes;
  m.counts.assign(size_t(n) * n, 0);
  for (size_t i = 0; i < truth.size(); ++i) {
    if (truth[i] < 0) continue;
    if (truth[i] >= n || predicted[i] < 0 || predicted[i] >= n)
      throw std::invalid_argument("confusion_matrix: class index out of range at sample " + std::to_string(i));
    ++m.counts[size_t(truth[i]) * n + predicted[i]];
    ++m.total;
    if (truth[i] == predicted[i]) ++m.correct;
  }
  return m;
}

std::string format_confusion(const ConfusionMatrix& m, int decimals) {
  const size_t n = m.classes.size();
  const auto rows = m.normalised();
  const auto number = [decimals](double v) {
    if (std::isnan(v)) return std::string("nan");
    char text[64];
    std::snprintf(text, sizeof text, "%.*f", decimals, v);
    return std::string(text);
  };
  // Every column as wide as its widest cell; the first column holds the true class.
  size_t first = std::string("true \\ predicted").size();
  for (const auto& c : m.classes) first = std::max(first, c.size());
  std::vector<size_t> width(n + 1, 0);
  for (size_t p = 0; p < n; ++p) {
    width[p] = std::max(m.classes[p].size(), number(1.0).size());
    width[p] = std::max(width[p], std::string("nan").size());
  }
  width[n] = std::string("n").size();
  for (size_t t = 0; t < n; ++t) width[n] = std::max(width[n], std::to_string(m.row_total(t)).size());
  std::ostringstream out;
  const auto cell = [&out](const std::string& text, size_t w, bool left) {
    out << "  ";
    if (left) out << text << std::string(w - text.size(), ' ');
    else out << std::string(w - text.size(), ' ') << text;
  };
  out << std::string("true \\ predicted") << std::string(first - 16, ' ');
  for (size_t p = 0; p < n; ++p) cell(m.classes[p], width[p], false);
  cell("n", width[n], false);
  out << '\n';
  for (size_t t = 0; t < n; ++t) {
    out << m.classes[t] << std::string(first - m.classes[t].size(), ' ');
    for (size_t p = 0; p < n; ++p) cell(number(rows[t * n + p]), width[p], false);
    cell(std::to_string(m.row_total(t)), width[n], false);
    out << '\n';
  }
  return out.str();
}

int argmax(const float* values, int n) {
  int best = n > 0 ? 0 : -1;
  for (int i = 1; i < n; ++i)
    if (values[i] > values[best]) best = i;
  return best;
}

std::string format_metric(double value, const char* format) {
  if (std::isnan(value)) return "nan";
  char text[64];
  std::snprintf(text, sizeof text, format, value);
  return text;
}

}  // namespace wsi
