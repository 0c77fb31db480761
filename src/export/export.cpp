// `wsi-mpi export`, see wsi/export/export.hpp. The files are written by the cohort layer (CLAM
// HDF5, wsi/cohort/clam_file.hpp) and the model layer (.pt tensor, wsi/model/tensor_file.hpp).
#include "wsi/export/export.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <stdexcept>

#include <spdlog/spdlog.h>

#include "util/enum_names.hpp"
#include "util/exclusive_file.hpp"
#include "util/file_name.hpp"
#include "util/json.hpp"
#include "wsi/model/tensor_file.hpp"
#include "wsi/render/overlay.hpp"
#include "wsi/export/tiatoolbox_export.hpp"
#include "wsi/render/umap_colours.hpp"

namespace wsi {
namespace {

namespace fs = std::filesystem;

// The shortest decimal that reads back as the same float32: JSON's double prints it unchanged.
double shortest(float v) {
  char text[32];
  const auto end = std::to_chars(text, text + sizeof text, v).ptr;
  return std::strtod(std::string(text, end).c_str(), nullptr);
}

Json tile_feature(const Level0Box& b, const float* p, const std::vector<std::string>& class_names, int64_t row) {
  const size_t best = static_cast<size_t>(std::max_element(p, p + class_names.size()) - p);
  const int64_t x1 = b.x + b.width, y1 = b.y + b.height;
  const Rgb colour = class_colour(best);
  Json probabilities = Json::object();
  for (size_t c = 0; c < class_names.size(); ++c) probabilities[class_names[c]] = shortest(p[c]);
  const Json ring = {{b.x, b.y}, {x1, b.y}, {x1, y1}, {b.x, y1}, {b.x, b.y}};
  return {{"type", "Feature"},
          {"geometry", {{"type", "Polygon"}, {"coordinates", Json::array({ring})}}},
          {"properties",
           {{"objectType", "detection"},
            {"classification", {{"name", class_names[best]}, {"color", {int(colour.r), int(colour.g), int(colour.b)}}}},
            {"probabilities", probabilities},
            {"tile", row}}}};
}

}  // namespace

std::string slide_file_name(const SlideRow& slide, const char* suffix) {
  if (!is_plain_file_name(slide.key))
    throw std::runtime_error("slide '" + slide.id + "' has the key '" + slide.key + "', which is no plain file name");
  return slide.key + suffix;
}

ExportFormat parse_export_format(const std::string& text) {
  static constexpr EnumName<ExportFormat> kNames[] = {{ExportFormat::clam, "clam"},
                                                       {ExportFormat::geojson, "geojson"},
                                                       {ExportFormat::tiatoolbox_zarr, "tiatoolbox-zarr"},
                                                       {ExportFormat::annotation_store, "annotation-store"}};
  return parse_enum(kNames, text, "--format: unknown format");
}

ClamAttributes clam_attributes(const SlideRow& slide, int64_t patch_size) {
  ClamAttributes a;
  a.patch_size = patch_size;
  a.patch_level = 0;
  a.patch_size_level0 = level0_length(patch_size, slide.scale);
  a.level0_magnification = slide.objective_power;
  a.target_magnification = magnification_at_scale(slide.objective_power, slide.scale);
  a.level0_width = slide.width;
  a.level0_height = slide.height;
  return a;
}

std::string slide_geojson(const SlideRow& slide, const std::vector<TileBounds>& tiles, const float* probabilities,
                          const std::vector<std::string>& class_names, int64_t first_row) {
  const size_t classes = class_names.size();
  if (classes == 0) throw std::invalid_argument("GeoJSON export needs class probabilities");
  // Written feature by feature: a slide of 10^5 tiles is never one JSON tree in memory.
  std::ostringstream out;
  out << R"({"type":"FeatureCollection","slide_id":)" << json_text(slide.id)
      << R"(,"class_names":)" << json_text(class_names) << R"(,"features":[)";
  for (size_t t = 0; t < tiles.size(); ++t) {
    const Json feature = tile_feature(level0_box(tiles[t].x0, tiles[t].y0, tiles[t].x1, tiles[t].y1, slide.scale), probabilities + t * classes, class_names,
                                      first_row + static_cast<int64_t>(t));
    out << (t ? "," : "") << "\n" << json_text(feature);
  }
  out << "\n]}\n";
  return out.str();
}

namespace {

// The slide options.slide names (by id, else key), or every done slide (the others are logged).
std::vector<size_t> slides_to_export(const CohortSummary& summary, const ExportOptions& options,
                                     const std::string& path) {
  std::vector<size_t> slides;
  if (!options.slide.empty()) {
    const auto found = find_slide(summary, options.slide);
    if (!found) throw std::invalid_argument("cohort file '" + path + "' has no slide '" + options.slide + "'");
    const SlideRow& slide = summary.slides[*found];
    if (slide.status != SlideStatus::done)
      throw std::invalid_argument("slide '" + options.slide + "' is not done (" +
                                  (slide.status == SlideStatus::failed ? "failed: " + slide.error : "pending") + ")");
    return {*found};
  }
  for (size_t i = 0; i < summary.slides.size(); ++i) {
    if (summary.slides[i].status == SlideStatus::done)
      slides.push_back(i);
    else
      spdlog::info("slide '{}' is not done: not exported", summary.slides[i].id);
  }
  if (slides.empty()) throw std::runtime_error("cohort file '" + path + "' has no done slides to export");
  return slides;
}

// DIR/h5_files/<key>.h5 and DIR/pt_files/<key>.pt; returns both paths.
std::vector<std::string> export_clam(const std::string& path, const CohortSummary& summary, const SlideRow& slide,
                                     const std::vector<TileBounds>& tiles, const fs::path& dir) {
  const std::vector<float> features = read_tile_features(path, slide.tile_start, slide.tile_count);
  std::vector<std::array<int64_t, 2>> coords;
  coords.reserve(tiles.size());
  for (const TileBounds& t : tiles) {
    const Level0Box b = level0_box(t.x0, t.y0, t.x1, t.y1, slide.scale);
    coords.push_back({b.x, b.y});
  }
  const int64_t patch = tiles.empty() ? 0 : int64_t(tiles[0].x1) - tiles[0].x0;
  const fs::path h5 = dir / "h5_files" / slide_file_name(slide, ".h5");
  const fs::path pt = dir / "pt_files" / slide_file_name(slide, ".pt");
  write_clam_h5(h5.string(), features.data(), slide.tile_count, summary.feature_size, coords,
                clam_attributes(slide, patch));
  write_feature_tensor(pt.string(), features.data(), slide.tile_count, summary.feature_size);
  return {h5.string(), pt.string()};
}

// DIR/<stem>.zarr or DIR/<stem>.db (wsi/export/tiatoolbox_export.hpp); returns the path.
std::string export_tiatoolbox(const std::string& path, const CohortSummary& summary, size_t index,
                              const std::string& stem, const std::vector<TileBounds>& tiles, const fs::path& dir,
                              ExportFormat format, const UmapColours* umap) {
  const SlideRow& slide = summary.slides[index];
  const bool zarr = format == ExportFormat::tiatoolbox_zarr;
  const std::string name = stem + (zarr ? ".zarr" : ".db");
  if (!is_plain_file_name(name))
    throw std::runtime_error("slide '" + slide.id + "' would be exported as '" + name +
                             "', which is no plain file name");
  SlideTileRows rows;
  rows.tiles = tiles;
  if (summary.has_probabilities) {
    rows.classes = static_cast<int64_t>(summary.class_names.size());
    rows.probabilities = read_tile_probabilities(path, slide.tile_start, slide.tile_count);
  }
  if (zarr && summary.feature_size > 0) {
    rows.feature_size = summary.feature_size;
    rows.features = read_tile_features(path, slide.tile_start, slide.tile_count);
  }
  if (umap && umap->holds(summary, index)) rows.umap_rgb = umap->of(path, slide);
  const fs::path out = dir / name;
  if (zarr)
    write_tiatoolbox_zarr(out.string(), rows);
  else
    write_annotation_store(out.string(), rows, summary.class_names, slide.scale);
  return out.string();
}

}  // namespace

std::vector<std::string> export_cohort(const std::string& path, const ExportOptions& options) {
  const CohortSummary summary = read_cohort_summary(path);
  if (options.format == ExportFormat::clam && summary.feature_size <= 0)
    throw std::invalid_argument("cohort file '" + path +
                                "' has no tile features (run with --mode features or both) for --format clam");
  if ((options.format == ExportFormat::geojson || options.format == ExportFormat::annotation_store) &&
      !summary.has_probabilities)
    throw std::invalid_argument("cohort file '" + path +
                                "' has no class probabilities (a features-only job) for --format " +
                                (options.format == ExportFormat::geojson ? "geojson" : "annotation-store"));
  const std::vector<size_t> slides = slides_to_export(summary, options, path);
  const fs::path dir = options.output;
  if (options.format == ExportFormat::clam) {
    fs::create_directories(dir / "h5_files");
    fs::create_directories(dir / "pt_files");
  } else {
    fs::create_directories(dir);
  }
  const std::vector<std::string> stems = tiatoolbox_stems(summary.slides);
  std::optional<UmapColours> umap;  // the annotation store's umap_rgb
  if (options.format == ExportFormat::annotation_store) umap.emplace(path, summary);
  std::vector<std::string> written;
  for (size_t i : slides) {
    const SlideRow& slide = summary.slides[i];
    const std::vector<TileBounds> tiles = read_tile_bounds(path, slide.tile_start, slide.tile_count);
    if (options.format == ExportFormat::clam) {
      for (const std::string& file : export_clam(path, summary, slide, tiles, dir)) written.push_back(file);
    } else if (options.format != ExportFormat::geojson) {
      written.push_back(export_tiatoolbox(path, summary, i, stems[i], tiles, dir, options.format, umap ? &*umap : nullptr));
    } else {
      const std::vector<float> probabilities = read_tile_probabilities(path, slide.tile_start, slide.tile_count);
      const fs::path out = dir / slide_file_name(slide, ".geojson");
      write_file_atomically(out.string(),
                            slide_geojson(slide, tiles, probabilities.data(), summary.class_names, slide.tile_start));
      written.push_back(out.string());
    }
  }
  return written;
}

}  // namespace wsi
