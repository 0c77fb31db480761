// The cohort file (single rank): create, raw writes in place, serial readers, h5py's view of
// the layout (tests/python/cohort_check.py), the docs' Python snippet, crash consistency right
// after create(), zero tiles, foreign files, and a cohort of 1000 slides read back whole.
#include <catch2/catch.hpp>
#include <hdf5.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

#include "test_support.hpp"
#include "wsi/cohort/cohort_file.hpp"

namespace {

namespace fs = std::filesystem;
using wsi::test::world;

wsi::SlideRow slide(const std::string& id, int64_t start, int64_t count) {
  wsi::SlideRow row;
  row.id = id;
  row.key = id;
  row.path = "/data/" + id + ".svs";
  row.tile_start = start;
  row.tile_count = count;
  row.width = 4000;
  row.height = 3000;
  row.mpp = 0.25;
  row.objective_power = 40;
  row.scale = 2;
  row.resolution_width = 2000;
  row.resolution_height = 1500;
  return row;
}

// 3 slides (the third failed in planning: no tiles, no maps), 10 tiles, 3 units, 3 classes,
// 8 float16 features.
wsi::CohortPlan full_plan() {
  wsi::CohortPlan plan;
  plan.job_json = R"({"mode": "both"})";
  plan.fingerprint = "abc123";
  plan.class_names = {"tumour", "stroma", "fat"};
  plan.feature_size = 8;
  plan.features_float16 = true;
  plan.slides = {slide("slide-a", 0, 6), slide("slide-\xc3\xa9"
                                               "b",
                                               6, 4),
                 slide("broken", 10, 0)};
  plan.slides[1].key = "slide-__b";  // the id sanitised, as the manifest does
  plan.slides[2].status = wsi::SlideStatus::failed;
  plan.slides[2].error = "cannot open: not a slide";
  plan.maps = {{5, 7, 5, 7, 10, 14}, {3, 4, 0, 0, 6, 8}, {}};  // slide-b: no thumbnail
  for (int i = 0; i < 10; ++i) {
    plan.tile_slide.push_back(i < 6 ? 0 : 1);
    plan.tile_bounds.push_back({i * 10, 0, i * 10 + 10, 10});
  }
  plan.units = {{0, 0, 4}, {0, 4, 2}, {1, 6, 4}};
  plan.stats_ranks = 2;
  return plan;
}

std::vector<float> features_10x8() {
  std::vector<float> f(80);
  for (int i = 0; i < 10; ++i)
    for (int j = 0; j < 8; ++j) f[i * 8 + j] = (i + 1) * 0.37f * (j - 3.5f) + 1e-3f * j;
  // Rounding corner cases: subnormal, overflow, the largest half, ties, NaN, tiny.
  const float special[8] = {0.1f, 1e-6f, 7e4f, -2.5f, 65519.f, 65520.f, 2.98e-8f,
                            std::numeric_limits<float>::quiet_NaN()};
  std::copy(special, special + 8, f.begin());
  f[8] = 1.0f + 1.0f / 2048;        // tie: rounds to even (1.0)
  f[9] = 1.0f + 3.0f / 2048;        // tie: rounds to even (1 + 2/1024)
  f[10] = 6.103515625e-05f * 0.75f;  // subnormal half
  return f;
}

void write_floats(const fs::path& file, const std::vector<float>& values) {
  std::ofstream out(file, std::ios::binary);
  out.write(reinterpret_cast<const char*>(values.data()), static_cast<std::streamsize>(values.size() * 4));
}

}  // namespace
TEST_CASE("cohort file: create, write in place, read back", "[cohort]") {
  const auto& comm = world();
  const fs::path dir = wsi::test::scratch_dir("cohort-full");
  const std::string path = (dir / "cohort.h5").string();
  wsi::CohortPlan plan = full_plan();
  plan.numeric_config = R"({"batch_size":8})";
  wsi::CohortFile::create(path, plan, comm);
  REQUIRE(fs::exists(path));
  REQUIRE_FALSE(fs::exists(path + ".partial"));

  std::vector<float> probabilities(30), features = features_10x8();
  for (int i = 0; i < 10; ++i) probabilities[i * 3] = i / 10.0f, probabilities[i * 3 + 1] = 1 - i / 10.0f;
  {
    wsi::CohortFile file = wsi::CohortFile::open(path, comm);
    // Two ranges out of order in one call, then another, then an empty call (empty selection).
    file.write_tile_rows({{6, 4, &probabilities[18], &features[48]}, {0, 4, &probabilities[0], &features[0]}});
    file.write_tile_rows({{4, 2, &probabilities[12], &features[32]}});
    file.write_tile_rows({});
    file.flush();
    CHECK(file.read_probabilities(6, 4) == std::vector<float>(probabilities.begin() + 18, probabilities.end()));
    file.write_done({2, 0}, 0);
    file.write_done({1, 1}, 0);  // duplicates are fine
    file.write_done({}, 0);
    file.flush();

    std::vector<uint8_t> prediction(5 * 7), thumbnail(5 * 7 * 3), tissue(10 * 14, 1);
    for (int y = 0; y < 5; ++y)
      for (int x = 0; x < 7; ++x) {
        prediction[y * 7 + x] = static_cast<uint8_t>(y * 7 + x);
        for (int c = 0; c < 3; ++c) thumbnail[(y * 7 + x) * 3 + c] = static_cast<uint8_t>(x + 2 * c);
      }
    std::vector<uint8_t> small(3 * 4, 2), small_mask(6 * 8, 1);
    file.write_maps({{0, prediction.data(), thumbnail.data(), tissue.data()}, {1, small.data(), nullptr, nullptr}});
    file.write_maps({{1, nullptr, nullptr, small_mask.data()}});
    file.write_maps({});
    CHECK_THROWS_AS(file.write_maps({{2, small.data(), nullptr, nullptr}}), std::logic_error);
    CHECK_THROWS_AS(file.write_maps({{1, nullptr, small.data(), nullptr}}), std::logic_error);  // no thumbnail
    CHECK(file.read_bounds(6, 2) == std::vector<wsi::TileBounds>{{60, 0, 70, 10}, {70, 0, 80, 10}});

    file.write_slide_status(0, wsi::SlideStatus::done, "", {0.5f, 0.25f, 0.25f});
    file.write_slide_status(1, wsi::SlideStatus::done, "", {0.0f, 1.0f, 0.0f});
    std::string long_error = "cannot open: ";
    for (int i = 0; i < 600; ++i) long_error += "\xc3\xa9";
    file.write_slide_status(2, wsi::SlideStatus::failed, long_error);
    CHECK_THROWS(file.write_slide_status(0, wsi::SlideStatus::done, "", {1.0f}));
    file.write_stats({{10, 2.5, 1, 1, 0.25, 0.25, 0.5, 0.125, 1, 1, 1, 16, 88.5}});
    file.write_end_state(wsi::EndState::complete);
    file.close();
  }

  const wsi::CohortSummary s = wsi::read_cohort_summary(path);
  CHECK(s.format == wsi::kCohortFormat);
  CHECK(s.format_version == wsi::kCohortFormatVersion);
  CHECK(s.software_version == WSI_MPI_VERSION);
  CHECK(s.job_json == plan.job_json);
  CHECK(s.fingerprint == "abc123");
  CHECK(s.numeric_config == plan.numeric_config);
  CHECK(s.class_names == plan.class_names);
  CHECK(s.feature_size == 8);
  CHECK(s.tile_count == 10);
  CHECK(s.has_probabilities);
  CHECK(s.features_float16);
  REQUIRE(s.slides.size() == 3);
  CHECK(s.slides[1].id == plan.slides[1].id);
  CHECK(s.slides[1].path == plan.slides[1].path);
  CHECK(s.slides[0].status == wsi::SlideStatus::done);
  CHECK(s.slides[2].status == wsi::SlideStatus::failed);
  CHECK(s.slides[2].error.size() <= 511);
  CHECK(s.slides[2].error.rfind("cannot open: \xc3\xa9", 0) == 0);
  CHECK(s.slides[1].tile_start == 6);
  CHECK(s.slides[1].tile_count == 4);
  CHECK(s.slides[0].width == 4000);
  CHECK(s.slides[0].mpp == 0.25);
  CHECK(s.slides[0].class_fractions == std::vector<float>{0.5f, 0.25f, 0.25f});
  CHECK(s.maps[0].height == 5);
  CHECK(s.maps[0].mask_width == 14);
  CHECK(s.maps[2].height == 0);
  REQUIRE(s.units.size() == 3);
  CHECK(s.units[2].first_tile == 6);
  CHECK(s.done == std::vector<uint8_t>{1, 1, 1});
  CHECK(s.unit_rank == std::vector<int32_t>{0, 0, 0});
  CHECK(s.end_state == wsi::EndState::complete);
  REQUIRE(s.stats.size() == 2);
  CHECK(s.stats[0].tiles == 10);
  CHECK(s.stats[0].seconds_writing == 0.25);
  CHECK(s.stats[0].seconds_planning == 0.5);
  CHECK(s.stats[0].seconds_maps == 0.125);
  CHECK(s.stats[0].channels_last == 1);
  CHECK(s.stats[0].precision == 1);  // bf16
  CHECK(s.stats[0].batch_size == 16);
  CHECK(s.stats[0].probe_tiles_per_second == 88.5);
  CHECK(s.stats[1].tiles == 0);

  const wsi::SlideMaps maps = wsi::read_slide_maps(path, "slide-a");
  CHECK(maps.prediction.size() == 35);
  CHECK(maps.prediction[2 * 7 + 3] == 17);
  CHECK(maps.thumbnail.size() == 105);
  CHECK(maps.thumbnail[3 * 3 + 2] == 7);
  CHECK(maps.tissue.size() == 140);
  const wsi::SlideMaps b = wsi::read_slide_maps(path, "slide-__b");
  CHECK(b.prediction == std::vector<uint8_t>(3 * 4, 2));
  CHECK(b.thumbnail.empty());
  CHECK(b.shape.thumbnail_height == 0);
  CHECK(b.tissue == std::vector<uint8_t>(6 * 8, 1));
  CHECK(wsi::read_slide_maps(path, "broken").prediction.empty());
  CHECK_THROWS(wsi::read_slide_maps(path, "no-such-slide"));

  const auto bounds = wsi::read_tile_bounds(path, 8, 2);
  REQUIRE(bounds.size() == 2);
  CHECK(bounds[0] == wsi::TileBounds{80, 0, 90, 10});
  const auto probs = wsi::read_tile_probabilities(path, 0, 10);
  CHECK(probs == probabilities);
  const auto feats = wsi::read_tile_features(path, 1, 2);
  REQUIRE(feats.size() == 16);
  CHECK(feats[0] == 1.0f);                           // the tie rounded to even
  CHECK(feats[5] == Approx(features[13]).epsilon(1e-3));
  CHECK_THROWS(wsi::read_tile_bounds(path, 9, 2));

  write_floats(dir / "features.f32", features);
  const std::string out = wsi::test::run_python("cohort_check.py", "'" + path + "' full '" + (dir / "features.f32").string() + "'");
  INFO(out);
  CHECK(out.find("cohort_check OK") != std::string::npos);
  const std::string snippet = wsi::test::run_python("doc_snippet.py", std::string(WSI_TESTS_DIR) + "/../docs/cohort-file.md '" + path + "'");
  INFO(snippet);
  CHECK(snippet.find("slide-a") != std::string::npos);
}

TEST_CASE("cohort file: valid right after create (crash consistency)", "[cohort]") {
  const auto& comm = world();
  const fs::path dir = wsi::test::scratch_dir("cohort-fresh");
  const std::string path = (dir / "cohort.h5").string();
  wsi::CohortPlan plan;
  plan.job_json = "{}";
  plan.fingerprint = "f";
  plan.class_names = {"a", "b"};
  plan.slides = {slide("s1", 0, 3), slide("s2", 3, 3)};
  plan.maps = {{4, 4, 2, 2, 8, 8}, {4, 4, 2, 2, 8, 8}};
  for (int i = 0; i < 6; ++i) plan.tile_slide.push_back(i / 3), plan.tile_bounds.push_back({i * 10, 0, i * 10 + 10, 10});
  plan.units = {{0, 0, 3}, {1, 3, 3}};
  plan.stats_ranks = 3;
  std::ofstream(path + ".partial") << "a leftover from a killed run";
  wsi::CohortFile::create(path, plan, comm);
  REQUIRE_FALSE(fs::exists(path + ".partial"));

  const std::string out = wsi::test::run_python("cohort_check.py", "'" + path + "' fresh");
  INFO(out);
  CHECK(out.find("cohort_check OK") != std::string::npos);
  const wsi::CohortSummary s = wsi::read_cohort_summary(path);
  CHECK(s.done == std::vector<uint8_t>{0, 0});
  CHECK(s.unit_rank == std::vector<int32_t>{-1, -1});
  CHECK(s.end_state == wsi::EndState::running);
  CHECK(s.stats.size() == 3);
  CHECK(s.feature_size == 0);
  CHECK_FALSE(s.features_float16);
  CHECK_THROWS(wsi::read_tile_features(path, 0, 1));
  // Planned without a numeric configuration (`wsi-mpi plan`): the first run records one.
  CHECK(s.numeric_config.empty());
  {
    wsi::CohortFile file = wsi::CohortFile::open(path, comm);
    if (comm.rank() == 0) {
      CHECK_THROWS_WITH(file.write_numeric_config(std::string(5000, 'x')), Catch::Contains("does not fit"));
      file.write_numeric_config(R"({"decided_by":"rule"})");
    }
    file.flush();
    file.close();
  }
  CHECK(wsi::read_cohort_summary(path).numeric_config == R"({"decided_by":"rule"})");

  // A second create over an existing file replaces it (the CLI decides about --overwrite).
  plan.units.pop_back();
  wsi::CohortFile::create(path, plan, comm);
  CHECK(wsi::read_cohort_summary(path).units.size() == 1);
}

// What a kill leaves between a maps write and the flush after it: the bytes on disk then. HDF5 may
// have written part of the chunk index already, so each chunk reads as before or after the write;
// none may read as garbage (new chunks written over old ones the index on disk points to).
TEST_CASE("cohort file: a kill after a maps write leaves the last flushed maps readable", "[cohort]") {
  const auto& comm = world();
  const fs::path dir = wsi::test::scratch_dir("cohort-maps-kill");
  const std::string path = (dir / "cohort.h5").string(), killed = (dir / "killed.h5").string();
  wsi::CohortPlan plan;
  plan.job_json = "{}";
  plan.fingerprint = "f";
  plan.class_names = {"a", "b"};
  plan.slides = {slide("big", 0, 2), slide("other", 2, 2)};
  const int64_t h = 2000, w = 3000;  // 8 x 12 chunks: freed fill chunks merge into room for new ones
  plan.maps = {{h, w, 0, 0, 16, 16}, {h, w, 0, 0, 16, 16}};
  for (int i = 0; i < 4; ++i) plan.tile_slide.push_back(i / 2), plan.tile_bounds.push_back({i * 10, 0, i * 10 + 10, 10});
  plan.units = {{0, 0, 2}, {1, 2, 2}};
  plan.stats_ranks = 1;
  wsi::CohortFile::create(path, plan, comm);

  std::vector<uint8_t> first(h * w), second(h * w), tissue(16 * 16, 1);
  uint32_t state = 12345;
  for (auto& v : first) v = static_cast<uint8_t>(((state = state * 1103515245u + 12345u) >> 16) % 3);
  for (size_t i = 0; i < second.size(); ++i) second[i] = static_cast<uint8_t>(first[i] ^ 1);
  {
    wsi::CohortFile file = wsi::CohortFile::open(path, comm);
    file.write_maps({{0, first.data(), nullptr, tissue.data()}});
    file.flush();
    file.write_maps({{0, second.data(), nullptr, nullptr}, {1, first.data(), nullptr, nullptr}});
    fs::copy_file(path, killed);  // the file as a SIGKILL here would leave it
  }
  const wsi::SlideMaps big = wsi::read_slide_maps(killed, "big"), other = wsi::read_slide_maps(killed, "other");
  const std::vector<uint8_t> zeros(h * w, 0);
  // Chunk by chunk: equal to `before` or to `after` (booleans: Catch would print the maps).
  auto before_or_after = [&](const std::vector<uint8_t>& map, const std::vector<uint8_t>& before,
                             const std::vector<uint8_t>& after) {
    for (int64_t y0 = 0; y0 < h; y0 += 256)
      for (int64_t x0 = 0; x0 < w; x0 += 256) {
        bool old_chunk = true, new_chunk = true;
        for (int64_t y = y0; y < std::min(h, y0 + 256); ++y)
          for (int64_t x = x0; x < std::min(w, x0 + 256); ++x) {
            old_chunk = old_chunk && map[y * w + x] == before[y * w + x];
            new_chunk = new_chunk && map[y * w + x] == after[y * w + x];
          }
        if (!old_chunk && !new_chunk) return false;
      }
    return true;
  };
  CHECK(before_or_after(big.prediction, first, second));
  CHECK(before_or_after(other.prediction, zeros, first));
  CHECK(bool(big.tissue == tissue));
  CHECK(bool(wsi::read_slide_maps(path, "big").prediction == second));
}

TEST_CASE("cohort file: zero tiles and empty selections", "[cohort]") {
  const auto& comm = world();
  const fs::path dir = wsi::test::scratch_dir("cohort-empty");
  const std::string path = (dir / "cohort.h5").string();
  wsi::CohortPlan plan;
  plan.job_json = "{}";
  plan.fingerprint = "f";
  plan.feature_size = 4;
  plan.slides = {slide("only", 0, 0)};
  plan.maps = {{2, 2, 2, 2, 2, 2}};
  wsi::CohortFile::create(path, plan, comm);
  {
    wsi::CohortFile file = wsi::CohortFile::open(path, comm);
    file.write_tile_rows({});
    file.write_done({}, 0);
    CHECK_THROWS(file.write_tile_rows({{0, 1, nullptr, nullptr}}));
    file.flush();
  }
  const std::string out = wsi::test::run_python("cohort_check.py", "'" + path + "' empty");
  INFO(out);
  CHECK(out.find("cohort_check OK") != std::string::npos);
  const wsi::CohortSummary s = wsi::read_cohort_summary(path);
  CHECK(s.tile_count == 0);
  CHECK(s.units.empty());
  CHECK(s.class_names.empty());
  CHECK(wsi::read_tile_features(path, 0, 0).empty());
}

TEST_CASE("cohort file: a file of another format is refused, naming it", "[cohort]") {
  const auto& comm = world();
  const fs::path dir = wsi::test::scratch_dir("cohort-foreign");
  const std::string path = (dir / "other.h5").string();
  {  // an HDF5 file whose format attribute names another format
    const hid_t file = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    REQUIRE(file >= 0);
    const std::string value = "something else";
    const hid_t type = H5Tcopy(H5T_C_S1);
    H5Tset_size(type, value.size());
    const hid_t space = H5Screate(H5S_SCALAR);
    const hid_t attr = H5Acreate2(file, "format", type, space, H5P_DEFAULT, H5P_DEFAULT);
    REQUIRE(attr >= 0);
    REQUIRE(H5Awrite(attr, type, value.data()) >= 0);
    H5Aclose(attr), H5Sclose(space), H5Tclose(type), H5Fclose(file);
  }
  try {
    wsi::read_cohort_summary(path);
    FAIL("no exception");
  } catch (const std::invalid_argument& e) {  // a refusal: exit status 2
    CHECK(std::string(e.what()).find(path) != std::string::npos);
    CHECK(std::string(e.what()).find("not a wsi-mpi cohort file") != std::string::npos);
  }
  CHECK_THROWS_WITH(wsi::CohortFile::open(path, comm), Catch::Contains("not a wsi-mpi cohort file"));
  CHECK_THROWS_WITH(wsi::read_cohort_summary((dir / "missing.h5").string()), Catch::Contains("missing.h5"));
  std::ofstream(dir / "text.h5") << "not hdf5";
  CHECK_THROWS_WITH(wsi::read_cohort_summary((dir / "text.h5").string()), Catch::Contains("text.h5"));
}

TEST_CASE("cohort file: 1000 slides of 200 tiles read back slide by slide", "[cohort]") {
  const auto& comm = world();
  const fs::path dir = wsi::test::scratch_dir("cohort-1000");
  const std::string path = (dir / "cohort.h5").string();
  wsi::CohortPlan plan;
  plan.job_json = "{}";
  plan.fingerprint = "f";
  plan.class_names = {"a", "b", "c", "d", "e", "f", "g", "h", "i"};
  plan.feature_size = 512;
  plan.features_float16 = true;
  const int slides = 1000, tiles_per_slide = 200;
  for (int i = 0; i < slides; ++i) {
    plan.slides.push_back(slide("TCGA-" + std::to_string(100000 + i), int64_t{i} * tiles_per_slide, tiles_per_slide));
    plan.maps.push_back({120, 160, 30, 40, 240, 320});
    for (int t = 0; t < tiles_per_slide; ++t) {
      plan.tile_slide.push_back(i);
      plan.tile_bounds.push_back({t * 224, 0, t * 224 + 224, 224});
    }
    plan.units.push_back({i, int64_t{i} * tiles_per_slide, tiles_per_slide});
  }
  wsi::CohortFile::create(path, plan, comm);
  { wsi::CohortFile file = wsi::CohortFile::open(path, comm); }
  // (Not timed here: a test asserts behaviour; timings belong in bench/.)
  const wsi::CohortSummary s = wsi::read_cohort_summary(path);
  REQUIRE(s.slides.size() == 1000);
  CHECK(s.tile_count == int64_t{slides} * tiles_per_slide);
  CHECK(s.units.size() == 1000);
  CHECK(s.class_names == plan.class_names);
  CHECK(s.feature_size == 512);
  CHECK(s.features_float16);
  for (int i : {0, 1, 499, 998, 999}) {
    INFO("slide " << i);
    CHECK(s.slides[i].id == "TCGA-" + std::to_string(100000 + i));
    CHECK(s.slides[i].tile_start == int64_t{i} * tiles_per_slide);
    CHECK(s.slides[i].tile_count == tiles_per_slide);
    CHECK(s.units[i].slide == i);
  }
  const auto last = wsi::read_tile_bounds(path, int64_t{999} * tiles_per_slide, tiles_per_slide);
  REQUIRE(last.size() == size_t(tiles_per_slide));
  CHECK(last[199].x0 == 199 * 224);
  const wsi::SlideMaps maps = wsi::read_slide_maps(path, "TCGA-100999");
  CHECK(maps.shape.height == 120);
  CHECK(maps.shape.width == 160);
}
