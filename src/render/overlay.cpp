// Overlay pictures of prediction maps, see wsi/render/overlay.hpp.
#include "wsi/render/overlay.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <stdexcept>

#include <opencv2/imgproc.hpp>

namespace wsi {
namespace {

// Panel geometry (px). One row per class: swatch | name | fraction bar | percentage.
constexpr int kMargin = 12;
constexpr int kTitleHeight = 30;
constexpr int kHeaderHeight = 22;
constexpr int kRowHeight = 24;
constexpr int kFooterHeight = 44;  // two lines of notes under the rows
constexpr int kSwatch = 16;
constexpr int kNameWidth = 110;
constexpr int kBarWidth = 120;
constexpr int kGap = 8;
constexpr int kPercentWidth = 56;  // "100.0%" at kTextScale, after a 6 px gap
constexpr int kFont = cv::FONT_HERSHEY_SIMPLEX;
constexpr double kTextScale = 0.45;
constexpr double kTitleScale = 0.55;

const cv::Scalar kWhite(255, 255, 255);
const cv::Scalar kInk(40, 40, 40);
const cv::Scalar kRule(150, 150, 150);
const cv::Scalar kBarBack(235, 235, 235);

cv::Scalar bgr(const Rgb& c) { return cv::Scalar(c.b, c.g, c.r); }

// `text` cut (with "..") so that it fits in `width` px at `scale`.
std::string fit(const std::string& text, double scale, int width) {
  int baseline = 0;
  if (cv::getTextSize(text, kFont, scale, 1, &baseline).width <= width) return text;
  std::string cut = text;
  while (!cut.empty() && cv::getTextSize(cut + "..", kFont, scale, 1, &baseline).width > width) cut.pop_back();
  return cut + "..";
}

}  // namespace

const std::vector<Rgb>& class_palette() {
  static const std::vector<Rgb> palette = {
      // Tableau 10: blue, orange, red, teal, green, yellow, purple, pink, brown, grey.
      {0x4e, 0x79, 0xa7}, {0xf2, 0x8e, 0x2b}, {0xe1, 0x57, 0x59}, {0x76, 0xb7, 0xb2}, {0x59, 0xa1, 0x4f},
      {0xed, 0xc9, 0x48}, {0xb0, 0x7a, 0xa1}, {0xff, 0x9d, 0xa7}, {0x9c, 0x75, 0x5f}, {0xba, 0xb0, 0xac},
      // Tableau 20's light partners, same order.
      {0xa0, 0xcb, 0xe8}, {0xff, 0xbe, 0x7d}, {0xff, 0x9d, 0x9a}, {0x86, 0xbc, 0xb6}, {0x8c, 0xd1, 0x7d},
      {0xf1, 0xce, 0x63}, {0xd4, 0xa6, 0xc8}, {0xfa, 0xbf, 0xd2}, {0xd7, 0xb5, 0xa6}, {0x79, 0x70, 0x6e},
  };
  return palette;
}

Rgb class_colour(size_t class_index) { return class_palette()[class_index % class_palette().size()]; }

OverlayLayout overlay_layout(int map_width, int map_height, size_t classes, const OverlayOptions& options) {
  if (map_width <= 0 || map_height <= 0) throw std::invalid_argument("overlay: empty prediction map");
  OverlayLayout layout;
  const int long_side = std::max(map_width, map_height);
  layout.scale = std::max(1, (options.min_map_long_side + long_side - 1) / long_side);
  layout.map = cv::Rect(0, 0, map_width * layout.scale, map_height * layout.scale);
  const int rows_top = kMargin + kTitleHeight + kHeaderHeight;
  const int panel_height = rows_top + static_cast<int>(classes) * kRowHeight + kFooterHeight + kMargin;
  const int panel_width =
      std::max(options.panel_width, 2 * kMargin + kSwatch + kNameWidth + kBarWidth + 2 * kGap + 6 + kPercentWidth);
  layout.size = cv::Size(layout.map.width + panel_width, std::max(layout.map.height, panel_height));
  layout.panel = cv::Rect(layout.map.width, 0, panel_width, layout.size.height);
  for (size_t k = 0; k < classes; ++k) {
    const int top = rows_top + static_cast<int>(k) * kRowHeight;
    const int x = layout.panel.x + kMargin;
    layout.swatches.emplace_back(x, top + (kRowHeight - kSwatch) / 2, kSwatch, kSwatch);
    layout.bars.emplace_back(x + kSwatch + kGap + kNameWidth + kGap, top + 6, kBarWidth, kRowHeight - 12);
  }
  return layout;
}

cv::Mat blend_prediction(const uint8_t* prediction, const uint8_t* thumbnail_rgb, int width, int height,
                         double alpha) {
  if (width <= 0 || height <= 0) throw std::invalid_argument("overlay: empty prediction map");
  if (!prediction || !thumbnail_rgb) throw std::invalid_argument("overlay: no prediction map or thumbnail");
  if (!(alpha >= 0 && alpha <= 1)) throw std::invalid_argument("overlay: alpha must be in [0, 1]");
  cv::Mat out(height, width, CV_8UC3);
  const auto mix = [alpha](uint8_t under, uint8_t colour) {
    return cv::saturate_cast<uint8_t>((1 - alpha) * under + alpha * colour);  // rounds to nearest
  };
  for (int y = 0; y < height; ++y) {
    auto* row = out.ptr<cv::Vec3b>(y);
    for (int x = 0; x < width; ++x) {
      const size_t i = static_cast<size_t>(y) * width + x;
      const uint8_t r = thumbnail_rgb[3 * i], g = thumbnail_rgb[3 * i + 1], b = thumbnail_rgb[3 * i + 2];
      if (prediction[i] == 0) {
        row[x] = cv::Vec3b(b, g, r);
      } else {
        const Rgb c = class_colour(prediction[i] - 1u);
        row[x] = cv::Vec3b(mix(b, c.b), mix(g, c.g), mix(r, c.r));
      }
    }
  }
  return out;
}

cv::Mat render_overlay(const uint8_t* prediction, const uint8_t* thumbnail_rgb, int width, int height,
                       const std::vector<std::string>& class_names, const std::vector<float>& class_fractions,
                       const OverlayOptions& options) {
  if (!class_fractions.empty() && class_fractions.size() != class_names.size())
    throw std::invalid_argument("overlay: " + std::to_string(class_fractions.size()) + " class fractions for " +
                                std::to_string(class_names.size()) + " classes");
  const OverlayLayout layout = overlay_layout(width, height, class_names.size(), options);
  cv::Mat picture(layout.size, CV_8UC3, kWhite);

  const cv::Mat blend = blend_prediction(prediction, thumbnail_rgb, width, height, options.alpha);
  cv::resize(blend, picture(layout.map), layout.map.size(), 0, 0, cv::INTER_NEAREST);

  const cv::Rect& panel = layout.panel;
  cv::line(picture, {panel.x, 0}, {panel.x, panel.height - 1}, kRule, 1);
  const int text_x = panel.x + kMargin;
  const int text_width = panel.width - 2 * kMargin;
  const std::string title = options.title.empty() ? "prediction overlay" : options.title;
  cv::putText(picture, fit(title, kTitleScale, text_width), {text_x, kMargin + 18}, kFont, kTitleScale, kInk, 1,
              cv::LINE_AA);
  const int header_y = kMargin + kTitleHeight + 14;
  cv::putText(picture, "class", {text_x, header_y}, kFont, kTextScale, kInk, 1, cv::LINE_AA);
  if (!layout.bars.empty())
    cv::putText(picture, "share of tiles", {layout.bars[0].x, header_y}, kFont, kTextScale, kInk, 1, cv::LINE_AA);

  for (size_t k = 0; k < class_names.size(); ++k) {
    const cv::Rect& swatch = layout.swatches[k];
    const cv::Rect& bar = layout.bars[k];
    const cv::Scalar colour = bgr(class_colour(k));
    cv::rectangle(picture, {swatch.x - 1, swatch.y - 1, swatch.width + 2, swatch.height + 2}, kInk, 1);
    cv::rectangle(picture, swatch, colour, cv::FILLED);
    const int baseline_y = swatch.y + swatch.height - 3;
    cv::putText(picture, fit(class_names[k], kTextScale, kNameWidth), {swatch.x + kSwatch + kGap, baseline_y}, kFont,
                kTextScale, kInk, 1, cv::LINE_AA);
    cv::rectangle(picture, bar, kBarBack, cv::FILLED);
    if (class_fractions.empty()) continue;
    const double fraction = std::clamp(static_cast<double>(class_fractions[k]), 0.0, 1.0);
    const int filled = static_cast<int>(std::lround(fraction * bar.width));
    if (filled > 0) cv::rectangle(picture, {bar.x, bar.y, filled, bar.height}, colour, cv::FILLED);
    char percent[16];
    std::snprintf(percent, sizeof percent, "%.1f%%", 100.0 * fraction);
    cv::putText(picture, percent, {bar.x + bar.width + 6, baseline_y}, kFont, kTextScale, kInk, 1, cv::LINE_AA);
  }
  // Notes under the rows: how the map is drawn.
  const int notes_y = kMargin + kTitleHeight + kHeaderHeight + static_cast<int>(class_names.size()) * kRowHeight;
  char note[64];
  std::snprintf(note, sizeof note, "class colour alpha %.2f, map x%d", options.alpha, layout.scale);
  cv::putText(picture, fit(note, kTextScale, text_width), {text_x, notes_y + 20}, kFont, kTextScale, kRule, 1,
              cv::LINE_AA);
  cv::putText(picture, "no tile: thumbnail as is", {text_x, notes_y + 38}, kFont, kTextScale, kRule, 1, cv::LINE_AA);
  return picture;
}

}  // namespace wsi
