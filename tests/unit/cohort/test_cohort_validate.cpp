// The validation layer under every cohort-file reader (src/cohort/h5_validate.*): a small valid
// file, changed one object at a time through the HDF5 API, is refused by read_cohort_summary
// with an std::invalid_argument that names the object; row reads out of range are refused.
// (The whole commands on crafted files: tests/e2e/cohort_files.py.)
#include <catch2/catch.hpp>
#include <hdf5.h>

#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "test_support.hpp"
#include "wsi/cohort/cohort_file.hpp"

namespace {

namespace fs = std::filesystem;

// 2 slides of 2 tiles, 2 classes, 4 features, maps with thumbnails.
std::string valid_file(const fs::path& dir) {
  const wsi::CohortPlan plan = wsi::test::two_slide_plan(4);
  const std::string path = (dir / "valid.h5").string();
  wsi::CohortFile::create(path, plan, wsi::test::world());
  return path;
}

// Replaces dataset `name` by one of `type` and `dims` (a scalar when empty), zero-filled.
void replace(hid_t file, const char* name, hid_t type, const std::vector<hsize_t>& dims) {
  REQUIRE(H5Ldelete(file, name, H5P_DEFAULT) >= 0);
  const hid_t space = dims.empty() ? H5Screate(H5S_SCALAR) : H5Screate_simple(int(dims.size()), dims.data(), nullptr);
  const hid_t dataset = H5Dcreate2(file, name, type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  REQUIRE(dataset >= 0);
  H5Dclose(dataset), H5Sclose(space);
}

void write_int64(hid_t file, const char* name, const std::vector<int64_t>& values) {
  const hid_t dataset = H5Dopen2(file, name, H5P_DEFAULT);
  REQUIRE(H5Dwrite(dataset, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data()) >= 0);
  H5Dclose(dataset);
}

struct Case {
  const char* what;
  std::function<void(hid_t)> change;
  const char* message;
};

}  // namespace

TEST_CASE("cohort validation: each object checked for kind, type, shape and values", "[cohort]") {
  const fs::path dir = wsi::test::scratch_dir("cohort-validate");
  const std::string valid = valid_file(dir);
  REQUIRE_NOTHROW(wsi::read_cohort_summary(valid));
  const std::vector<Case> cases = {
      {"format_version an array",
       [](hid_t f) {
         REQUIRE(H5Adelete(f, "format_version") >= 0);
         const hsize_t n = 64;
         const hid_t space = H5Screate_simple(1, &n, nullptr);
         const hid_t a = H5Acreate2(f, "format_version", H5T_STD_I32LE, space, H5P_DEFAULT, H5P_DEFAULT);
         H5Aclose(a), H5Sclose(space);
       },
       "attribute 'format_version' of / is not a scalar integer"},
      {"status as int64", [](hid_t f) { replace(f, "/slides/status", H5T_STD_I64LE, {2}); },
       "/slides/status holds an integer of 8 bytes, not an integer of 1 bytes"},
      {"thumbnail 2-D", [](hid_t f) { replace(f, "/maps/s1/thumbnail", H5T_STD_U8LE, {2, 2}); },
       "/maps/s1/thumbnail has 2 dimensions, not 3"},
      {"tile_start as a scalar", [](hid_t f) { replace(f, "/slides/tile_start", H5T_STD_I64LE, {}); },
       "/slides/tile_start is not an array"},
      {"feature size past the cap", [](hid_t f) { write_int64(f, "/job/feature_size", {int64_t{1} << 40}); },
       "/job/feature_size is 1099511627776, outside 0..65536"},
      {"a slide's done flags longer than the slides",
       [](hid_t f) {
         REQUIRE(H5Gclose(H5Gcreate2(f, "/slides/embeddings", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT)) >= 0);
         REQUIRE(H5Gclose(H5Gcreate2(f, "/progress/embeddings", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT)) >= 0);
         const hsize_t rows[2] = {2, 4}, flags = 1000;
         const hid_t rs = H5Screate_simple(2, rows, nullptr), fs_ = H5Screate_simple(1, &flags, nullptr);
         H5Dclose(H5Dcreate2(f, "/slides/embeddings/x", H5T_IEEE_F32LE, rs, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
         H5Dclose(H5Dcreate2(f, "/progress/embeddings/x", H5T_STD_U8LE, fs_, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
         H5Sclose(rs), H5Sclose(fs_);
       },
       "/progress/embeddings/x has shape [1000]: dimension 0 should be 2"},
      {"size at the resolution 0", [](hid_t f) { write_int64(f, "/slides/width_at_resolution", {0, 1000}); },
       "slide 's1' has tiles and /slides/width_at_resolution 0"},
      {"a soft link", [](hid_t f) {
         REQUIRE(H5Ldelete(f, "/tiles/bounds", H5P_DEFAULT) >= 0);
         REQUIRE(H5Lcreate_soft("/tiles/slide", f, "/tiles/bounds", H5P_DEFAULT, H5P_DEFAULT) >= 0);
       },
       "/tiles/bounds is not a hard link"},
      {"a group for a dataset", [](hid_t f) {
         REQUIRE(H5Ldelete(f, "/slides/id", H5P_DEFAULT) >= 0);
         REQUIRE(H5Gclose(H5Gcreate2(f, "/slides/id", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT)) >= 0);
       },
       "/slides/id is not a dataset"},
      {"a missing dataset", [](hid_t f) { REQUIRE(H5Ldelete(f, "/progress/done", H5P_DEFAULT) >= 0); },
       "/progress/done is missing"},
      {"more planned than the tables hold", [](hid_t f) { write_int64(f, "/progress/planned", {2, 5, 2}); },
       "/progress/planned says 2 slides, 5 tiles and 2 units are planned, more than the file holds (2, 4, 2)"},
      {"planned tiles that the slides do not cover", [](hid_t f) { write_int64(f, "/progress/planned", {1, 4, 1}); },
       "the planned slides hold 2 tiles, /progress/planned says 4"},
      {"a unit of a slide not planned", [](hid_t f) { write_int64(f, "/progress/planned", {1, 2, 2}); },
       "unit 1 names slide 1 of the 1 planned"},
      {"a gap between two slides' tiles", [](hid_t f) { write_int64(f, "/slides/tile_start", {0, 3}); },
       "slide 's2' starts at tile 3, not 2 where the slide before it ends"},
  };
  for (const Case& c : cases) {
    INFO(c.what);
    const std::string path = (dir / "changed.h5").string();
    fs::copy_file(valid, path, fs::copy_options::overwrite_existing);
    const hid_t file = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
    REQUIRE(file >= 0);
    c.change(file);
    REQUIRE(H5Fclose(file) >= 0);
    CHECK_THROWS_AS(wsi::read_cohort_summary(path), std::invalid_argument);
    CHECK_THROWS_WITH(wsi::read_cohort_summary(path),
                      Catch::Contains("not a consistent wsi-mpi cohort file") && Catch::Contains(c.message));
  }
}

// A file killed while it grew: the tables hold rows (and /maps groups) of slides it does not
// record as planned yet. Readers see only the planned ones.
TEST_CASE("cohort validation: a partly grown file is read as far as it is planned", "[cohort]") {
  const fs::path dir = wsi::test::scratch_dir("cohort-partly-grown");
  const std::string path = valid_file(dir);
  const hid_t file = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
  REQUIRE(file >= 0);
  write_int64(file, "/progress/planned", {1, 2, 1});
  REQUIRE(H5Ldelete(file, "/maps/s2/tissue", H5P_DEFAULT) >= 0);  // half made
  REQUIRE(H5Fclose(file) >= 0);
  const wsi::CohortSummary s = wsi::read_cohort_summary(path);
  CHECK(s.planned_slides == 1);
  CHECK(s.tile_count == 2);
  REQUIRE(s.slides.size() == 2);
  CHECK(s.slides[1].id == "s2");
  CHECK(s.slides[1].tile_count == 0);
  CHECK(s.slides[1].status == wsi::SlideStatus::pending);
  CHECK_FALSE(wsi::has_maps(s.maps[1]));
  CHECK(wsi::has_maps(s.maps[0]));
  CHECK(s.units.size() == 1);
  CHECK(s.done.size() == 1);
  CHECK(wsi::read_slide_maps(path, "s2").prediction.empty());
}

TEST_CASE("cohort validation: row reads out of range are refused", "[cohort]") {
  const fs::path dir = wsi::test::scratch_dir("cohort-validate-rows");
  const std::string path = valid_file(dir);
  CHECK(wsi::read_tile_bounds(path, 2, 2).size() == 2);
  CHECK_THROWS_WITH(wsi::read_tile_bounds(path, 3, 2), Catch::Contains("rows [3, +2) lie outside the 4 rows"));
  CHECK_THROWS_AS(wsi::read_tile_features(path, -1, 1), std::invalid_argument);
  CHECK_THROWS_AS(wsi::read_slide_maps(path, "s3"), std::invalid_argument);
}
