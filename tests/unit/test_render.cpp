// `render` and `inspect`: the overlay blend, palette and panel layout on hand-made maps; the
// inspect summary of a partly done, partly failed cohort (in memory); and both commands of the
// real binary on a synthetic cohort (synth + run), read back with cv::imread, the cohort readers
// and Python's json.
#include <catch2/catch.hpp>
#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <opencv2/imgcodecs.hpp>

#include "test_support.hpp"
#include "wsi/cohort/cohort_file.hpp"
#include "wsi/render/inspect.hpp"
#include "wsi/render/map_thumbnail.hpp"
#include "wsi/render/overlay.hpp"

namespace {

namespace fs = std::filesystem;

cv::Vec3b bgr(const wsi::Rgb& c) { return cv::Vec3b(c.b, c.g, c.r); }

// What the blend must give for one map pixel: the thumbnail where the prediction is 0, else
// (1 - alpha) x thumbnail + alpha x palette colour of class prediction - 1 (BGR).
cv::Vec3b expected_pixel(uint8_t prediction, const uint8_t* rgb, double alpha) {
  const cv::Vec3b thumb(rgb[2], rgb[1], rgb[0]);
  if (prediction == 0) return thumb;
  const cv::Vec3b c = bgr(wsi::class_colour(prediction - 1u));
  cv::Vec3b out;
  for (int i = 0; i < 3; ++i) out[i] = cv::saturate_cast<uint8_t>((1 - alpha) * thumb[i] + alpha * c[i]);
  return out;
}

bool near(const cv::Vec3b& a, const cv::Vec3b& b, int tolerance) {
  for (int i = 0; i < 3; ++i)
    if (std::abs(int(a[i]) - int(b[i])) > tolerance) return false;
  return true;
}

// The swatch interior is exactly the class colour; the name column next to it has ink.
void check_legend(const cv::Mat& picture, const wsi::OverlayLayout& layout, size_t classes) {
  REQUIRE(layout.swatches.size() == classes);
  for (size_t k = 0; k < classes; ++k) {
    INFO("class " << k);
    const cv::Rect& s = layout.swatches[k];
    REQUIRE(layout.panel.contains(s.tl()));
    REQUIRE(layout.panel.contains(s.br() - cv::Point(1, 1)));
    int wrong = 0;
    for (int y = s.y + 1; y < s.y + s.height - 1; ++y)
      for (int x = s.x + 1; x < s.x + s.width - 1; ++x)
        wrong += picture.at<cv::Vec3b>(y, x) != bgr(wsi::class_colour(k));
    CHECK(wrong == 0);
    int ink = 0;  // the class name, drawn right of the swatch
    for (int y = s.y; y < s.y + s.height; ++y)
      for (int x = s.x + s.width + 4; x < s.x + s.width + 60; ++x) {
        const cv::Vec3b p = picture.at<cv::Vec3b>(y, x);
        ink += p[0] < 128 && p[1] < 128 && p[2] < 128;
      }
    CHECK(ink > 5);
  }
}

// Exit status of a shell command (output to `log`).
int exit_status(const std::string& command, const fs::path& log) {
  const int status = std::system((command + " > '" + log.string() + "' 2>&1").c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::string read_text(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

TEST_CASE("overlay: palette, blend and panel layout on a hand-made map", "[render]") {
  const auto& palette = wsi::class_palette();
  REQUIRE(palette.size() == 20);
  CHECK(palette[0] == wsi::Rgb{0x4e, 0x79, 0xa7});  // Tableau 10 blue first, orange second
  CHECK(palette[1] == wsi::Rgb{0xf2, 0x8e, 0x2b});
  std::set<std::tuple<int, int, int>> distinct;
  for (const auto& c : palette) distinct.insert({c.r, c.g, c.b});
  CHECK(distinct.size() == palette.size());
  CHECK(wsi::class_colour(23) == palette[3]);

  // 40 x 25 map: background 0, bands of classes 1..4, plus one pixel of class 12 (light palette).
  const int w = 40, h = 25;
  std::vector<uint8_t> prediction(w * h), thumbnail(w * h * 3);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      const int i = y * w + x;
      prediction[i] = x < 8 ? 0 : static_cast<uint8_t>(1 + (x / 8 - 1) % 4);
      thumbnail[3 * i] = static_cast<uint8_t>(200 + x);
      thumbnail[3 * i + 1] = static_cast<uint8_t>(100 + 5 * y);
      thumbnail[3 * i + 2] = static_cast<uint8_t>(x * y % 256);
    }
  prediction[0] = 12;
  const double alpha = 0.4;
  const cv::Mat blend = wsi::blend_prediction(prediction.data(), thumbnail.data(), w, h, alpha);
  REQUIRE(blend.size() == cv::Size(w, h));
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      const int i = y * w + x;
      INFO("pixel " << x << "," << y);
      REQUIRE(blend.at<cv::Vec3b>(y, x) == expected_pixel(prediction[i], &thumbnail[3 * i], alpha));
    }

  const std::vector<std::string> names = {"tumour", "stroma", "a very long class name indeed", "mucin"};
  const std::vector<float> fractions = {0.5f, 0.25f, 0.25f, 0.f};
  wsi::OverlayOptions options;
  options.alpha = alpha;
  options.title = "slide-x";
  const wsi::OverlayLayout layout = wsi::overlay_layout(w, h, names.size(), options);
  CHECK(layout.scale == 13);  // ceil(512 / 40)
  CHECK(layout.map == cv::Rect(0, 0, w * 13, h * 13));
  CHECK(layout.panel.x == layout.map.width);
  const cv::Mat picture = wsi::render_overlay(prediction.data(), thumbnail.data(), w, h, names, fractions, options);
  REQUIRE(picture.type() == CV_8UC3);
  REQUIRE(picture.size() == layout.size);
  // Every map pixel becomes a scale x scale block of its blend colour.
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (const cv::Point d : {cv::Point(0, 0), cv::Point(12, 12), cv::Point(6, 3)})
        REQUIRE(picture.at<cv::Vec3b>(y * 13 + d.y, x * 13 + d.x) == blend.at<cv::Vec3b>(y, x));
  check_legend(picture, layout, names.size());
  // Bars: filled with the class colour in proportion to its fraction, the rest light grey.
  for (size_t k = 0; k < names.size(); ++k) {
    const cv::Rect& bar = layout.bars[k];
    const int mid = bar.y + bar.height / 2;
    const int filled = static_cast<int>(std::lround(fractions[k] * bar.width));
    if (filled > 1) CHECK(picture.at<cv::Vec3b>(mid, bar.x + filled - 1) == bgr(wsi::class_colour(k)));
    CHECK(picture.at<cv::Vec3b>(mid, bar.x + bar.width - 1) != bgr(wsi::class_colour(k)));
  }
  // Large maps are not upscaled; the panel never gets narrower than its content.
  CHECK(wsi::overlay_layout(600, 300, 9).scale == 1);
  CHECK(wsi::overlay_layout(100, 700, 9).scale == 1);
  CHECK(wsi::overlay_layout(100, 200, 9).scale == 3);
  options.panel_width = 10;
  CHECK(wsi::overlay_layout(w, h, 4, options).panel.width >= 348);

  CHECK_THROWS_AS(wsi::render_overlay(prediction.data(), thumbnail.data(), w, h, names, {0.5f}),
                  std::invalid_argument);
  CHECK_THROWS_AS(wsi::blend_prediction(prediction.data(), thumbnail.data(), 0, h, 0.4), std::invalid_argument);
  CHECK_THROWS_AS(wsi::blend_prediction(prediction.data(), thumbnail.data(), w, h, 1.5), std::invalid_argument);
}

TEST_CASE("inspect: a partly done cohort with a failed slide is resumable", "[render]") {
  wsi::CohortSummary s;
  s.format = wsi::kCohortFormat;
  s.format_version = 1;
  s.software_version = "9.9.9";
  s.job_json = R"({"mode": "classify", "model": {"model": "resnet18-kather100k", "threads": 2},
                   "resolution": {"value": 0.5, "units": "mpp"}})";
  s.class_names = {"BACK", "TUM", "STR"};
  auto row = [](const std::string& id, wsi::SlideStatus status, int64_t start, int64_t count) {
    wsi::SlideRow r;
    r.id = id;
    r.key = id;
    r.status = status;
    r.tile_start = start;
    r.tile_count = count;
    return r;
  };
  s.slides = {row("alpha", wsi::SlideStatus::done, 0, 10), row("beta", wsi::SlideStatus::failed, 10, 0),
              row("gamma", wsi::SlideStatus::pending, 10, 7)};
  s.slides[0].class_fractions = {0.1f, 0.6f, 0.3f};
  s.slides[1].error = "cannot open: not a slide";
  s.units = {{0, 0, 6}, {0, 6, 4}, {2, 10, 4}, {2, 14, 3}};
  s.done = {1, 1, 1, 0};
  s.end_state = wsi::EndState::running;
  s.tile_count = 17;

  const wsi::CohortInspection c = wsi::inspect_cohort(s, "x.h5", 2);
  CHECK(c.mode == "classify");
  CHECK(c.model == "resnet18-kather100k");
  CHECK(c.resolution == "0.5 mpp");
  CHECK(c.slides_done == 1);
  CHECK(c.slides_failed == 1);
  CHECK(c.slides_pending == 1);
  CHECK(c.units_done == 3);
  CHECK(c.units_total == 4);
  CHECK(c.tiles_done == 14);
  CHECK(c.tiles_total == 17);
  CHECK(c.resumable);
  REQUIRE(c.slides.size() == 3);
  REQUIRE(c.slides[0].top_classes.size() == 2);
  CHECK(c.slides[0].top_classes[0].name == "TUM");
  CHECK(c.slides[0].top_classes[1].name == "STR");
  CHECK(c.slides[1].error == "cannot open: not a slide");
  CHECK(c.slides[2].units_done == 1);
  CHECK(c.slides[2].units_total == 2);

  const std::string text = wsi::inspection_text(c);
  for (const char* part : {"alpha", "beta", "gamma", "done", "failed", "pending", "cannot open: not a slide",
                           "resnet18-kather100k", "TUM 60.0%", "3 of 4 done", "14 of 17 done", "resumable:  yes"})
    CHECK(text.find(part) != std::string::npos);

  // Complete: not resumable, even with a unit left (e.g. a slide that failed mid-run).
  s.end_state = wsi::EndState::complete;
  CHECK_FALSE(wsi::inspect_cohort(s, "x.h5").resumable);
  s.end_state = wsi::EndState::incomplete;
  CHECK(wsi::inspect_cohort(s, "x.h5").resumable);
  s.done = {1, 1, 1, 1};
  CHECK_FALSE(wsi::inspect_cohort(s, "x.h5").resumable);
  // Unreadable job JSON: "unknown", no throw.
  s.job_json = "{not json";
  CHECK(wsi::inspect_cohort(s, "x.h5").mode == "unknown");

  // The JSON form parses, with the same counts.
  const fs::path dir = wsi::test::scratch_dir("inspect-json");
  std::ofstream(dir / "inspect.json") << wsi::inspection_json(c);
  std::ofstream(dir / "check.py") << R"(import json, sys
d = json.load(open(sys.argv[1]))
t = d["totals"]
assert (t["slides_done"], t["slides_failed"], t["slides_pending"]) == (1, 1, 1), t
assert (t["units_done"], t["units_total"], t["tiles_done"], t["tiles_total"]) == (3, 4, 14, 17), t
assert d["resumable"] is True and d["end_state"] == "running", d
assert d["job"] == {"mode": "classify", "model": "resnet18-kather100k", "resolution": "0.5 mpp",
                    "class_names": ["BACK", "TUM", "STR"]}, d["job"]
assert [s["status"] for s in d["slides"]] == ["done", "failed", "pending"], d["slides"]
assert d["slides"][1]["error"] == "cannot open: not a slide"
assert [c["class"] for c in d["slides"][0]["top_classes"]] == ["TUM", "STR"]
assert abs(d["slides"][0]["top_classes"][0]["fraction"] - 0.6) < 1e-6
print("ok")
)";
  CHECK(wsi::test::run_command(std::string(WSI_TEST_PYTHON) + " " + (dir / "check.py").string() + " " +
                               (dir / "inspect.json").string())
            .find("ok") != std::string::npos);
}

TEST_CASE("render and inspect: the real binary on a synthetic cohort", "[render][binary]") {
  const std::string bin = WSI_BINARY;
  const fs::path dir = wsi::test::scratch_dir("render-binary");
  wsi::test::run_command(bin + " synth --output " + (dir / "cohort").string() + " --slides 2 --size 3000x2000");
  wsi::test::run_command(bin + " run --job " + (dir / "cohort" / "job.ini").string() + " --threads 2");
  const std::string file = (dir / "cohort" / "cohort.h5").string();
  const wsi::CohortSummary summary = wsi::read_cohort_summary(file);
  REQUIRE(summary.slides.size() == 2);
  REQUIRE(summary.class_names.size() == 4);

  wsi::test::run_command(bin + " render " + file + " --output " + (dir / "out").string());
  const double alpha = 0.4;  // the default
  for (const wsi::SlideRow& slide : summary.slides) {
    INFO("slide " << slide.id);
    REQUIRE(slide.status == wsi::SlideStatus::done);
    const cv::Mat picture = cv::imread((dir / "out" / (slide.key + ".overlay.png")).string(), cv::IMREAD_COLOR);
    REQUIRE(!picture.empty());
    const wsi::SlideMaps maps = wsi::read_slide_maps(file, slide.key);
    const std::vector<uint8_t> thumbnail = wsi::thumbnail_at_map_size(maps, slide);
    const int w = static_cast<int>(maps.shape.width), h = static_cast<int>(maps.shape.height);
    REQUIRE(w > 0);
    wsi::OverlayOptions options;
    const wsi::OverlayLayout layout = wsi::overlay_layout(w, h, summary.class_names.size(), options);
    CHECK(std::max(layout.map.width, layout.map.height) >= 512);
    REQUIRE(picture.size() == layout.size);
    check_legend(picture, layout, summary.class_names.size());

    // Map panel: several pixels of each class present, and of the background, at the centre of
    // their scale x scale block.
    std::map<int, std::vector<int>> pixels_of;  // prediction value -> map pixel indices
    for (int i = 0; i < w * h; ++i) pixels_of[maps.prediction[i]].push_back(i);
    REQUIRE(pixels_of.count(0));     // background
    REQUIRE(pixels_of.size() >= 3);  // and at least two classes
    for (const auto& [value, indices] : pixels_of) {
      INFO("prediction value " << value);
      REQUIRE(value <= static_cast<int>(summary.class_names.size()));
      const size_t step = std::max<size_t>(1, indices.size() / 25);
      int checked = 0, coloured = 0;
      for (size_t j = 0; j < indices.size(); j += step, ++checked) {
        const int i = indices[j], x = i % w, y = i / w;
        const int centre = layout.scale / 2;
        const cv::Vec3b got = picture.at<cv::Vec3b>(y * layout.scale + centre, x * layout.scale + centre);
        const uint8_t* rgb = &thumbnail[3 * static_cast<size_t>(i)];
        const cv::Vec3b thumb(rgb[2], rgb[1], rgb[0]);
        INFO("map pixel " << x << "," << y);
        if (value == 0) {
          REQUIRE(got == thumb);
        } else {
          REQUIRE(near(got, expected_pixel(static_cast<uint8_t>(value), rgb, alpha), 1));
          coloured += !near(got, thumb, 3);
        }
      }
      CHECK(checked >= std::min<int>(5, static_cast<int>(indices.size())));
      if (value != 0) CHECK(coloured * 2 > checked);  // the class colour shows
    }
  }

  // One slide, by id; an unknown id is exit 2 naming it.
  const fs::path log = dir / "log.txt";
  CHECK(exit_status(bin + " render " + file + " --slide slide_002 --output " + (dir / "one").string(), log) == 0);
  CHECK(fs::exists(dir / "one" / "slide_002.overlay.png"));
  CHECK_FALSE(fs::exists(dir / "one" / "slide_001.overlay.png"));
  CHECK(exit_status(bin + " render " + file + " --slide no_such_slide --output " + (dir / "none").string(), log) == 2);
  CHECK(read_text(log).find("wsi-mpi render: error:") != std::string::npos);
  CHECK(read_text(log).find("no_such_slide") != std::string::npos);
  CHECK(exit_status(bin + " render " + file, log) == 2);  // no --output

  // inspect: text and JSON.
  const std::string text = wsi::test::run_command(bin + " inspect " + file);
  for (const char* part : {"slide_001", "slide_002", "done", "classify", "0.5 mpp", "resumable:  no", "3 of 3"})
    CHECK(text.find(part) != std::string::npos);
  int64_t tiles = 0;
  for (const wsi::SlideRow& slide : summary.slides) tiles += slide.tile_count;
  wsi::test::run_command("(" + bin + " inspect " + file + " --json > " + (dir / "inspect.json").string() + ")");
  std::ofstream(dir / "check.py") << R"(import json, sys
d = json.load(open(sys.argv[1]))
units, tiles = int(sys.argv[2]), int(sys.argv[3])
t = d["totals"]
assert (t["slides"], t["slides_done"], t["slides_failed"], t["slides_pending"]) == (2, 2, 0, 0), t
assert (t["units_done"], t["units_total"], t["tiles_done"], t["tiles_total"]) == (units, units, tiles, tiles), t
assert d["resumable"] is False and d["end_state"] == "complete" and d["format_version"] == 2, d
assert d["job"]["mode"] == "classify" and d["job"]["resolution"] == "0.5 mpp", d["job"]
assert [s["id"] for s in d["slides"]] == ["slide_001", "slide_002"]
assert all(s["status"] == "done" and s["top_classes"] for s in d["slides"]), d["slides"]
print("ok")
)";
  CHECK(wsi::test::run_command(std::string(WSI_TEST_PYTHON) + " " + (dir / "check.py").string() + " " +
                               (dir / "inspect.json").string() + " " + std::to_string(summary.units.size()) + " " +
                               std::to_string(tiles))
            .find("ok") != std::string::npos);

  // A missing file and a file that is no cohort: exit 2, naming the file.
  CHECK(exit_status(bin + " inspect " + (dir / "missing.h5").string(), log) == 2);
  CHECK(read_text(log).find("missing.h5") != std::string::npos);
  std::ofstream(dir / "not-a-cohort.h5") << "hello\n";
  CHECK(exit_status(bin + " inspect " + (dir / "not-a-cohort.h5").string() + " --json", log) == 2);
  CHECK(read_text(log).find("not-a-cohort.h5") != std::string::npos);
  CHECK(exit_status(bin + " render " + (dir / "not-a-cohort.h5").string() + " --output " + (dir / "x").string(),
                    log) == 2);
  CHECK(read_text(log).find("not-a-cohort.h5") != std::string::npos);
}
