// Resolution math (TIAToolbox 1.4.1 WSIMeta.relative_level_scales and
// WSIReader._find_optimal_level_and_downsample), see include/wsi/units.hpp.
#include "wsi/units.hpp"

#include <cmath>
#include <stdexcept>

#include "util/enum_names.hpp"

namespace wsi {

namespace {

constexpr EnumName<Units> kUnitNames[] = {
    {Units::mpp, "mpp"}, {Units::power, "power"}, {Units::level, "level"}, {Units::baseline, "baseline"}};

}  // namespace

Units parse_units(const std::string& text) { return parse_enum(kUnitNames, text, "unknown resolution units"); }

std::string to_string(Units units) { return enum_name(kUnitNames, units); }

std::string to_string(const Resolution& resolution) {
  char text[64];
  std::snprintf(text, sizeof text, "%g %s", resolution.value, to_string(resolution.units).c_str());
  return text;
}

namespace {

void require_levels(const SlideProperties& slide) {
  if (slide.levels.empty()) throw std::invalid_argument("slide has no levels");
}

}  // namespace

std::vector<Scale2> relative_level_scales(const SlideProperties& slide, const Resolution& resolution) {
  require_levels(slide);
  if (resolution.value <= 0 && resolution.units != Units::level)
    throw std::invalid_argument("resolution must be positive, got " + to_string(resolution));
  // scale = base * downsample / resolution, with base and resolution per unit as TIAToolbox has them.
  double base = 1.0;
  double target = resolution.value;
  switch (resolution.units) {
    case Units::mpp:
      if (slide.mpp <= 0) throw std::invalid_argument("the slide has no usable mpp (give --mpp-override)");
      base = slide.mpp;
      break;
    case Units::power:
      if (slide.objective_power <= 0) throw std::invalid_argument("the slide has no objective power");
      base = 1.0 / slide.objective_power;
      target = 1.0 / resolution.value;
      break;
    case Units::baseline:
      target = 1.0 / resolution.value;
      break;
    case Units::level: {
      const auto level = static_cast<long>(resolution.value);
      if (level != resolution.value || level < 0 || level >= static_cast<long>(slide.levels.size()))
        throw std::invalid_argument("level " + to_string(resolution) + " does not exist (the slide has " +
                                    std::to_string(slide.levels.size()) + ")");
      target = slide.levels[level].downsample;
      break;
    }
  }
  std::vector<Scale2> scales;
  for (const Level& level : slide.levels) {
    const double s = base * level.downsample / target;
    scales.push_back({s, s});
  }
  return scales;
}

ReadLevel optimal_read_level(const SlideProperties& slide, const Resolution& resolution) {
  const auto scales = relative_level_scales(slide, resolution);
  auto sufficient = [](const Scale2& s) {
    return std::round(s.x * 1000.0) / 1000.0 <= 1.0 && std::round(s.y * 1000.0) / 1000.0 <= 1.0;
  };
  for (int level = static_cast<int>(scales.size()) - 1; level >= 0; --level)
    if (sufficient(scales[level])) return {level, scales[level]};
  return {0, scales[0]};
}

Scale2 baseline_per_requested(const SlideProperties& slide, const Resolution& resolution) {
  const Scale2 s = relative_level_scales(slide, resolution).front();
  return {1.0 / s.x, 1.0 / s.y};
}

namespace {

// numpy's round (half to even), as llrint does in the default rounding mode.
int64_t round_even(double v) { return std::llrint(v); }

}  // namespace

RegionRead region_at_baseline(const SlideProperties& slide, const Resolution& resolution, int64_t x0, int64_t y0,
                              int64_t x1, int64_t y1, Size* output) {
  const ReadLevel read = optimal_read_level(slide, resolution);
  const double ds = slide.levels[read.level].downsample;
  RegionRead r;
  r.level = read.level;
  r.scale = read.scale;
  r.x = x0, r.y = y0;
  r.level_x = round_even(x0 / ds), r.level_y = round_even(y0 / ds);
  r.width = round_even((x1 - x0) / ds), r.height = round_even((y1 - y0) / ds);
  if (output) *output = {round_even(r.width * r.scale.x), round_even(r.height * r.scale.y)};
  return r;
}

RegionRead region_at_resolution(const SlideProperties& slide, const Resolution& resolution, int64_t x0, int64_t y0,
                                int64_t x1, int64_t y1) {
  // The same floating-point steps as _find_read_params_at_resolution (location as float32).
  const ReadLevel read = optimal_read_level(slide, resolution);
  const double to_read_level = 1.0 / slide.levels[read.level].downsample;
  const double sx = to_read_level * read.scale.x, sy = to_read_level * read.scale.y;
  const auto bx = static_cast<int64_t>(std::ceil(static_cast<double>(static_cast<float>(x0)) / sx));
  const auto by = static_cast<int64_t>(std::ceil(static_cast<double>(static_cast<float>(y0)) / sy));
  const auto bw = static_cast<int64_t>(std::ceil(static_cast<double>(x1 - x0) / sx));
  const auto bh = static_cast<int64_t>(std::ceil(static_cast<double>(y1 - y0) / sy));
  return region_at_baseline(slide, resolution, bx, by, bx + bw, by + bh, nullptr);
}

Size size_at_resolution(const SlideProperties& slide, const Resolution& resolution) {
  Size output;
  region_at_baseline(slide, resolution, 0, 0, slide.size().width, slide.size().height, &output);
  return output;
}

double mpp_at_power(double power) { return 10.0 / power; }

Size size_from_scale(Size level0, double scale) {
  return {std::llround(static_cast<double>(level0.width) / scale),
          std::llround(static_cast<double>(level0.height) / scale)};
}

double magnification_at_scale(double objective_power, double scale) {
  return scale > 0 ? objective_power / scale : 0.0;
}

int64_t level0_length(int64_t length, double scale) {
  return static_cast<int64_t>(std::ceil(static_cast<double>(length) * scale));
}

Level0Box level0_box(int64_t x0, int64_t y0, int64_t x1, int64_t y1, double scale) {
  return {level0_length(x0, scale), level0_length(y0, scale), level0_length(x1 - x0, scale),
          level0_length(y1 - y0, scale)};
}

double common_objective_power(double mpp) {
  static const double powers[] = {1, 1.25, 2, 2.5, 4, 5, 10, 20, 40, 60, 90, 100};
  const double power = 10.0 / mpp;  // the inverse of mpp_at_power
  double best = powers[0];
  for (double p : powers)
    if (std::abs(power - p) < std::abs(power - best)) best = p;
  return best;
}

}  // namespace wsi
