// find_slide: a slide named by id first, then by key (the file-safe name), as render and export
// take it.
#include <catch2/catch.hpp>

#include "wsi/cohort/cohort_file.hpp"

TEST_CASE("find_slide: by id, then by key, else none", "[cohort]") {
  wsi::CohortSummary summary;
  summary.slides.resize(3);
  summary.slides[0].id = "a/b", summary.slides[0].key = "a_b";
  summary.slides[1].id = "a_b", summary.slides[1].key = "a_b-1";  // an id equal to another's key
  summary.slides[2].id = "c", summary.slides[2].key = "c";
  CHECK(wsi::find_slide(summary, "a/b") == std::optional<size_t>(0));
  CHECK(wsi::find_slide(summary, "a_b") == std::optional<size_t>(1));  // the id wins over slide 0's key
  CHECK(wsi::find_slide(summary, "a_b-1") == std::optional<size_t>(1));
  CHECK(wsi::find_slide(summary, "c") == std::optional<size_t>(2));
  CHECK_FALSE(wsi::find_slide(summary, "d").has_value());
  CHECK_FALSE(wsi::find_slide(wsi::CohortSummary{}, "a").has_value());
}
