// Synthetic slides: seeded layouts, Aperio-style pyramidal TIFFs that OpenSlide 3.4.1 reads as
// vendor "aperio", pixel content near each class colour, the layout CSV.
#include <catch2/catch.hpp>
#include <openslide/openslide.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <set>
#include <string>
#include <vector>

#include "test_support.hpp"
#include "util/csv.hpp"
#include "wsi/synth/synth_slide.hpp"

namespace {

bool same_layout(const wsi::SynthLayout& a, const wsi::SynthLayout& b) {
  if (a.width != b.width || a.height != b.height || a.regions.size() != b.regions.size()) return false;
  for (size_t i = 0; i < a.regions.size(); ++i) {
    const auto& p = a.regions[i];
    const auto& q = b.regions[i];
    if (p.class_index != q.class_index || p.x0 != q.x0 || p.y0 != q.y0 || p.x1 != q.x1 || p.y1 != q.y1) return false;
  }
  return true;
}

void check_layout(const wsi::SynthSlideSpec& spec, const wsi::SynthLayout& layout) {
  INFO("slide " << spec.width << "x" << spec.height << " seed " << spec.seed);
  REQUIRE(layout.width == spec.width);
  REQUIRE(layout.height == spec.height);
  REQUIRE(layout.regions.size() >= 4);
  REQUIRE(layout.regions.size() <= 12);
  std::set<int> classes;
  for (size_t i = 0; i < layout.regions.size(); ++i) {
    const auto& r = layout.regions[i];
    classes.insert(r.class_index);
    // White margins all round, boxes off the patch grid, big enough to hold several patches.
    CHECK(r.x0 > 0);
    CHECK(r.y0 > 0);
    CHECK(r.x1 < spec.width);
    CHECK(r.y1 < spec.height);
    for (int64_t v : {r.x0, r.y0, r.x1, r.y1}) {
      CHECK(v % 224 != 0);
      CHECK(v % 256 != 0);
    }
    if (std::min(spec.width, spec.height) >= 3000) {
      CHECK(r.x1 - r.x0 >= 600);
      CHECK(r.y1 - r.y0 >= 600);
    }
    // The centre belongs to the region's class.
    CHECK(layout.class_at(0.5 * (r.x0 + r.x1), 0.5 * (r.y0 + r.y1)) == r.class_index);
    // Boxes never overlap, so ellipses never do.
    for (size_t j = i + 1; j < layout.regions.size(); ++j) {
      const auto& s = layout.regions[j];
      const bool disjoint = r.x1 <= s.x0 || s.x1 <= r.x0 || r.y1 <= s.y0 || s.y1 <= r.y0;
      CHECK(disjoint);
    }
  }
  CHECK(classes.size() == wsi::synth_classes().size());
  CHECK(layout.class_at(1, 1) == -1);
  CHECK(layout.class_at(spec.width - 1, spec.height - 1) == -1);
}

// Mean RGB of a w x h block of one level, from OpenSlide's premultiplied ARGB.
std::array<double, 3> mean_rgb(openslide_t* slide, int level, int64_t x0, int64_t y0, int64_t w, int64_t h) {
  std::vector<uint32_t> argb(static_cast<size_t>(w * h));
  openslide_read_region(slide, argb.data(), x0, y0, level, w, h);
  REQUIRE(openslide_get_error(slide) == nullptr);
  std::array<double, 3> sum{0, 0, 0};
  for (uint32_t p : argb) {
    REQUIRE((p >> 24) == 255);
    sum[0] += (p >> 16) & 255;
    sum[1] += (p >> 8) & 255;
    sum[2] += p & 255;
  }
  for (auto& v : sum) v /= static_cast<double>(argb.size());
  return sum;
}

std::string property(openslide_t* slide, const char* name) {
  const char* v = openslide_get_property_value(slide, name);
  return v ? std::string(v) : std::string("<absent>");
}

}  // namespace

TEST_CASE("synth classes are distinct H&E-like colours darker than the background", "[synth]") {
  const auto& classes = wsi::synth_classes();
  REQUIRE(classes.size() == 4);
  for (size_t i = 0; i < classes.size(); ++i) {
    const auto& c = classes[i].rgb;
    const double grey = 0.299 * c[0] + 0.587 * c[1] + 0.114 * c[2];
    INFO(classes[i].name);
    CHECK(grey < 200);
    for (size_t j = i + 1; j < classes.size(); ++j) {
      const auto& d = classes[j].rgb;
      const double dist = std::sqrt(std::pow(c[0] - d[0], 2) + std::pow(c[1] - d[1], 2) + std::pow(c[2] - d[2], 2));
      CHECK(dist > 60);
    }
  }
}

TEST_CASE("synth layouts are deterministic, complete and off the patch grid", "[synth]") {
  wsi::SynthSlideSpec spec;
  spec.width = 5000;
  spec.height = 3500;
  spec.seed = 7;
  const auto a = wsi::make_synth_layout(spec);
  const auto b = wsi::make_synth_layout(spec);
  CHECK(same_layout(a, b));
  check_layout(spec, a);
  spec.seed = 8;
  const auto c = wsi::make_synth_layout(spec);
  CHECK_FALSE(same_layout(a, c));

  // Every class on every slide from 4000x3000 up to a real slide's size, for many seeds.
  for (auto size : {std::pair<int64_t, int64_t>{4000, 3000}, {5000, 3500}, {12000, 9000}, {100000, 80000}}) {
    for (uint32_t seed = 1; seed <= 20; ++seed) {
      wsi::SynthSlideSpec s;
      s.width = size.first;
      s.height = size.second;
      s.seed = seed;
      check_layout(s, wsi::make_synth_layout(s));
    }
  }
  // Small slides scale down but still hold every class.
  wsi::SynthSlideSpec small;
  small.width = 600;
  small.height = 400;
  check_layout(small, wsi::make_synth_layout(small));
  small.width = 10;
  CHECK_THROWS(wsi::make_synth_layout(small));
}

TEST_CASE("synth layout CSV: a header, then each region's class, name and level-0 box", "[synth]") {
  const auto dir = wsi::test::scratch_dir("synth-csv");
  wsi::SynthSlideSpec spec;
  spec.seed = 3;
  const auto layout = wsi::make_synth_layout(spec);
  const std::string path = (dir / "layout.csv").string();
  wsi::write_layout_csv(path, layout);
  wsi::CsvReader csv(path);
  std::vector<std::string> fields;
  REQUIRE(csv.next(fields));
  CHECK(fields == std::vector<std::string>{"class", "name", "x0", "y0", "x1", "y1"});
  REQUIRE_FALSE(layout.regions.empty());
  for (const wsi::SynthRegion& r : layout.regions) {
    REQUIRE(csv.next(fields));
    CHECK(fields == std::vector<std::string>{std::to_string(r.class_index), wsi::synth_classes().at(r.class_index).name,
                                             std::to_string(r.x0), std::to_string(r.y0), std::to_string(r.x1),
                                             std::to_string(r.y1)});
  }
  CHECK_FALSE(csv.next(fields));
}

TEST_CASE("synth slides open in OpenSlide as Aperio with mpp, power, levels and class colours", "[synth]") {
  const auto dir = wsi::test::scratch_dir("synth-slide");
  wsi::SynthSlideSpec spec;
  spec.width = 5000;
  spec.height = 3500;
  spec.levels = 3;
  spec.mpp = 0.5;
  spec.objective_power = 20;
  spec.seed = 11;
  const auto layout = wsi::make_synth_layout(spec);
  const std::string path = (dir / "synthetic.svs").string();
  wsi::write_synth_slide(path, spec, layout);

  const char* vendor = openslide_detect_vendor(path.c_str());
  REQUIRE(vendor != nullptr);
  CHECK(std::string(vendor) == "aperio");

  openslide_t* slide = openslide_open(path.c_str());
  REQUIRE(slide != nullptr);
  const char* error = openslide_get_error(slide);
  INFO("openslide error: " << (error ? error : "none"));
  REQUIRE(error == nullptr);

  CHECK(property(slide, "openslide.vendor") == "aperio");
  CHECK(std::atof(property(slide, "openslide.mpp-x").c_str()) == Approx(0.5));
  CHECK(std::atof(property(slide, "openslide.mpp-y").c_str()) == Approx(0.5));
  CHECK(std::atof(property(slide, "openslide.objective-power").c_str()) == Approx(20));
  CHECK(property(slide, "tiff.ResolutionUnit") == "centimeter");
  CHECK(std::atof(property(slide, "tiff.XResolution").c_str()) == Approx(20000));

  const auto sizes = wsi::synth_level_sizes(spec);
  REQUIRE(openslide_get_level_count(slide) == 3);
  REQUIRE(sizes.size() == 3);
  const int64_t expected[3][2] = {{5000, 3500}, {2500, 1750}, {1250, 875}};
  for (int level = 0; level < 3; ++level) {
    int64_t w = 0, h = 0;
    openslide_get_level_dimensions(slide, level, &w, &h);
    CHECK(w == expected[level][0]);
    CHECK(h == expected[level][1]);
    CHECK(sizes[level].width == w);
    CHECK(sizes[level].height == h);
    CHECK(openslide_get_level_downsample(slide, level) == Approx(1 << level));
  }

  const auto& classes = wsi::synth_classes();
  for (const auto& r : layout.regions) {
    const auto& rgb = classes[r.class_index].rgb;
    const int64_t cx = (r.x0 + r.x1) / 2, cy = (r.y0 + r.y1) / 2;
    INFO("region of class " << classes[r.class_index].name << " centre " << cx << "," << cy);
    // One pixel: the class colour give or take the texture.
    const auto pixel = mean_rgb(slide, 0, cx, cy, 1, 1);
    for (int k = 0; k < 3; ++k) CHECK(std::abs(pixel[k] - rgb[k]) < 50);
    // A 32x32 block averages the texture away, on every level.
    for (int level = 0; level < 3; ++level) {
      const int64_t d = 1 << level;
      const auto block = mean_rgb(slide, level, cx - 16 * d, cy - 16 * d, 32, 32);
      for (int k = 0; k < 3; ++k) CHECK(std::abs(block[k] - rgb[k]) < 20);
    }
  }
  // Background near white, in the margin and between regions.
  for (auto xy : {std::pair<int64_t, int64_t>{20, 20}, {spec.width - 40, spec.height - 40}, {spec.width / 2, 10}}) {
    REQUIRE(layout.class_at(xy.first + 8, xy.second + 8) == -1);
    const auto bg = mean_rgb(slide, 0, xy.first, xy.second, 16, 16);
    for (int k = 0; k < 3; ++k) {
      CHECK(bg[k] > 236);
      CHECK(bg[k] < 253);
    }
  }
  openslide_close(slide);
}

TEST_CASE("synth slide writing names the file when it fails", "[synth]") {
  const auto dir = wsi::test::scratch_dir("synth-fail");
  wsi::SynthSlideSpec spec;
  spec.width = 600;
  spec.height = 400;
  spec.levels = 1;
  const auto layout = wsi::make_synth_layout(spec);
  const std::string path = (dir / "no-such-folder" / "slide.svs").string();
  CHECK_THROWS_WITH(wsi::write_synth_slide(path, spec, layout), Catch::Contains(path));
  spec.tile_size = 100;
  CHECK_THROWS_WITH(wsi::write_synth_slide((dir / "t.svs").string(), spec, layout), Catch::Contains("t.svs"));
}
