// `render`: the overlay blend, palette and panel layout on hand-made maps. (The real binary's
// render on a synthetic cohort: tests/e2e/render_cli.py.)
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <opencv2/imgcodecs.hpp>

#include "test_support.hpp"
#include "wsi/cohort/cohort_file.hpp"
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
