// Patch mode without a model: accuracy and the row-normalised confusion matrix on a hand-made
// case, and the text table.
#include <catch2/catch.hpp>

#include <cmath>
#include <sstream>

#include "wsi/patches/metrics.hpp"

TEST_CASE("accuracy and row-normalised confusion matrix by hand", "[patches]") {
  // Classes A B C. Truth / predicted:  A->A, A->B, B->B, B->B, A->A, plus one left out (-1).
  // Rows: A = {2, 1, 0} / 3, B = {0, 2, 0} / 2, C has no samples -> NaN. Accuracy 4 / 5.
  const std::vector<std::string> classes{"A", "B", "C"};
  const auto m = wsi::confusion_matrix(classes, {0, 0, 1, 1, 0, -1}, {0, 1, 1, 1, 0, 2});
  CHECK(m.total == 5);
  CHECK(m.correct == 4);
  CHECK(m.accuracy() == Approx(0.8));
  CHECK(m.count(0, 0) == 2);
  CHECK(m.count(0, 1) == 1);
  CHECK(m.count(1, 1) == 2);
  CHECK(m.row_total(2) == 0);
  const auto rows = m.normalised();
  REQUIRE(rows.size() == 9);
  CHECK(rows[0] == Approx(2.0 / 3));
  CHECK(rows[1] == Approx(1.0 / 3));
  CHECK(rows[2] == 0.0);
  CHECK(rows[3] == 0.0);
  CHECK(rows[4] == 1.0);
  CHECK(rows[5] == 0.0);
  for (int p = 0; p < 3; ++p) CHECK(std::isnan(rows[6 + p]));

  const std::string table = wsi::format_confusion(m, 3);
  INFO(table);
  CHECK(table.find("0.667") != std::string::npos);
  CHECK(table.find("nan") != std::string::npos);
  // Aligned: every line as long as the header.
  std::vector<std::string> lines;
  std::stringstream text(table);
  for (std::string line; std::getline(text, line);) lines.push_back(line);
  REQUIRE(lines.size() == 4);
  for (const auto& line : lines) CHECK(line.size() == lines[0].size());

  CHECK(std::isnan(wsi::confusion_matrix(classes, {-1}, {0}).accuracy()));
  CHECK_THROWS(wsi::confusion_matrix(classes, {0, 1}, {0}));
  CHECK_THROWS(wsi::confusion_matrix(classes, {3}, {0}));
  const float values[] = {0.1f, 0.4f, 0.4f, 0.1f};
  CHECK(wsi::argmax(values, 4) == 1);
}
