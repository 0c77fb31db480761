// `wsi-mpi render FILE.h5 [--slide ID] --output DIR`: DIR/<slide key>.overlay.png per done slide,
// the prediction map blended over the thumbnail with a legend and class fractions; and, when the
// file has features, DIR/<slide key>.features.png (their PCA as RGB, see wsi/render/feature_picture.hpp);
// and, for the slides `wsi-mpi umap` embedded, DIR/<slide key>.umap.png (the same picture of /tiles/umap).
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <iostream>
#include <map>
#include <optional>
#include <stdexcept>

#include <opencv2/imgcodecs.hpp>
#include <spdlog/spdlog.h>

#include "cli/cli.hpp"
#include "cli/options.hpp"
#include "util/exclusive_file.hpp"
#include "util/json.hpp"
#include "wsi/cohort/cohort_file.hpp"
#include "wsi/job/manifest.hpp"
#include "wsi/export/export.hpp"
#include "wsi/render/feature_picture.hpp"
#include "wsi/render/umap_colours.hpp"
#include "wsi/render/map_thumbnail.hpp"
#include "wsi/render/overlay.hpp"

namespace wsi::cli {
namespace {

namespace fs = std::filesystem;

po::options_description render_options() {
  po::options_description o("wsi-mpi render FILE.h5 [--slide ID] --output DIR\n\n"
                            "Writes DIR/<slide key>.overlay.png for every done slide of the cohort file (or the\n"
                            "one given): the prediction map blended over the slide's thumbnail, with the class\n"
                            "colours (Tableau 10) and each class's fraction of the slide's tiles. When the file\n"
                            "has features, also DIR/<slide key>.features.png: the features' first three principal\n"
                            "components as RGB (1st..99th percentile -> 0..255) per tile over the thumbnail, beside\n"
                            "the prediction blend when there is one. For the slides `wsi-mpi umap` embedded, also\n"
                            "DIR/<slide key>.umap.png: the same picture of /tiles/umap (its first three columns, each\n"
                            "min-max normalised over the slide, or over the cohort when umap ran with --scope cohort).\n"
                            "Options");
  o.add_options()
      ("help,h", "show this help")
      ("file", po::value<std::string>(), "cohort file (FILE.h5; also the first positional argument)")
      ("slide", po::value<std::string>(), "render only this slide (its id, or its key under /maps)")
      ("slides", po::value<std::string>(),
       "manifest (or slide file) to read the slides from when the cohort file keeps no thumbnail "
       "(default: the job's manifest, when it lies next to the cohort file; /slides/path is never opened)")
      ("output", po::value<std::string>(), "folder to write (made if missing)")
      ("alpha", po::value<double>()->default_value(0.4, "0.4"), "weight of the class colours over tissue, 0..1")
      ("min-size", po::value<int>()->default_value(512),
       "upscale small maps (nearest neighbour, integer factor) to at least this long side, px")
      ("pca", po::value<std::string>()->default_value("slide"),
       "features.png: principal components and colour scale per slide, or over every done slide of the cohort "
       "(cohort: colours comparable between slides)");
  return o;
}

// The slide --slide names (by id, else key), or every done slide.
std::vector<size_t> selected_slides(const CohortSummary& summary, const po::variables_map& vm,
                                    const std::string& path) {
  std::vector<size_t> slides;
  if (!vm.count("slide")) {
    for (size_t i = 0; i < summary.slides.size(); ++i)
      if (summary.slides[i].status == SlideStatus::done) slides.push_back(i);
    if (slides.empty()) throw std::runtime_error("cohort file '" + path + "' has no done slides to render");
    return slides;
  }
  const std::string wanted = vm["slide"].as<std::string>();
  const auto found = find_slide(summary, wanted);
  if (!found) throw UsageError("cohort file '" + path + "' has no slide '" + wanted + "'");
  const SlideRow& slide = summary.slides[*found];
  if (slide.status != SlideStatus::done)
    throw std::runtime_error("slide '" + wanted + "' is not done (status " +
                             (slide.status == SlideStatus::failed ? "failed: " + slide.error : std::string("pending")) +
                             "): it has no prediction map yet");
  return {*found};
}

// The slide files render may open, for slides whose maps come without a thumbnail: those of the
// manifest --slides names, else of the job's manifest found next to the cohort file (its file
// name from /job, looked up in the cohort file's folder). Never /slides/path: a cohort file from
// elsewhere must not make render open whatever file it names.
struct SlideFiles {
  std::string manifest;  // "" when there is none
  std::map<std::string, std::string> by_id;

  const std::string& of(const SlideRow& slide) const {
    const auto found = by_id.find(slide.id);
    if (found != by_id.end()) return found->second;
    throw std::runtime_error(
        "slide '" + slide.id + "' has no thumbnail in the cohort file, and " +
        (manifest.empty() ? std::string("no manifest names its slide file (give --slides MANIFEST)")
                          : "the manifest " + manifest + " does not list it") +
        "; render does not open the file's own /slides/path ('" + slide.path + "')");
  }
};

std::string manifest_next_to(const std::string& path, const CohortSummary& summary) {
  std::string slides;
  try {
    slides = parse_json(summary.job_json, path + ": /job/config").value("slides", "");
  } catch (const std::exception&) {
    return "";  // no usable job record: no manifest to find
  }
  const fs::path candidate = fs::path(path).parent_path() / fs::path(slides).filename();
  return fs::path(slides).extension() == ".csv" && fs::is_regular_file(candidate) ? candidate.string() : "";
}

SlideFiles slide_files(const po::variables_map& vm, const std::string& path, const CohortSummary& summary) {
  SlideFiles files;
  files.manifest = vm.count("slides") ? vm["slides"].as<std::string>() : manifest_next_to(path, summary);
  if (files.manifest.empty()) return files;
  for (const ManifestEntry& entry : read_manifest(files.manifest)) files.by_id.emplace(entry.id, entry.path);
  return files;
}

// --pca cohort: one basis and one colour scale over every done slide (moments first, then the
// scores for the percentiles: two reads of the features, memory D x D + 3 floats per tile).
struct CohortColours {
  std::optional<FeaturePca> pca;  // none: each slide its own
  ScoreRange range;
};

CohortColours pca_colours(const std::string& path, const CohortSummary& summary) {
  CohortColours c;
  FeatureMoments moments;
  for (const SlideRow& s : summary.slides)
    if (s.status == SlideStatus::done && s.tile_count > 0) {
      const auto f = read_tile_features(path, s.tile_start, s.tile_count);
      accumulate_feature_moments(moments, f.data(), s.tile_count, summary.feature_size);
    }
  if (moments.count == 0) return c;
  c.pca = feature_pca(moments);
  std::vector<float> scores;
  for (const SlideRow& s : summary.slides)
    if (s.status == SlideStatus::done && s.tile_count > 0) {
      const auto f = read_tile_features(path, s.tile_start, s.tile_count);
      const auto part = project_features(*c.pca, f.data(), s.tile_count);
      scores.insert(scores.end(), part.begin(), part.end());
    }
  c.range = score_range(scores);
  return c;
}

// Each tile's RGB from its features: the cohort's basis and scale, or the slide's own.
std::vector<uint8_t> tile_colours(const std::vector<float>& features, const SlideRow& slide, int64_t feature_size,
                                  const CohortColours& cohort) {
  if (slide.tile_count == 0) return {};
  if (cohort.pca) return scores_to_rgb(project_features(*cohort.pca, features.data(), slide.tile_count), cohort.range);
  FeatureMoments moments;
  accumulate_feature_moments(moments, features.data(), slide.tile_count, feature_size);
  const std::vector<float> scores = project_features(feature_pca(moments), features.data(), slide.tile_count);
  return scores_to_rgb(scores, score_range(scores));
}

// Encoded in memory and written as a new file (a link planted at `out` is replaced, not followed).
void write_png(const fs::path& out, const cv::Mat& picture) {
  std::vector<uchar> png;
  if (!cv::imencode(".png", picture, png)) throw std::runtime_error("cannot encode '" + out.string() + "' as PNG");
  write_file_atomically(out.string(), std::string_view(reinterpret_cast<const char*>(png.data()), png.size()));
  std::cout << out.string() << std::endl;
}

// <key>.overlay.png when the file has classes, <key>.features.png when it has features,
// <key>.umap.png when /tiles/umap holds the slide.
void render_slide(const std::string& path, const CohortSummary& summary, size_t index, const CohortColours& cohort,
                  const UmapColours& umap, const SlideFiles& files, OverlayOptions options, const fs::path& dir) {
  const SlideRow& slide = summary.slides[index];
  const bool has_classes = !summary.class_names.empty() && summary.has_probabilities;
  const SlideMaps maps = read_slide_maps(path, slide.key);
  const size_t pixels = static_cast<size_t>(maps.shape.height) * static_cast<size_t>(maps.shape.width);
  if (pixels == 0 || maps.prediction.size() != pixels)
    throw std::runtime_error("slide '" + slide.id + "' has no usable prediction map in '" + path + "'");
  std::string slide_file;
  if (!keeps_thumbnail(maps.shape)) {
    slide_file = files.of(slide);
    spdlog::info("slide {}: the cohort file keeps no thumbnail, reading {} (listed in {})", slide.id, slide_file,
                 files.manifest);
  }
  const std::vector<uint8_t> thumbnail = thumbnail_at_map_size(maps, slide, slide_file);
  options.title = slide.id;
  const int width = static_cast<int>(maps.shape.width), height = static_cast<int>(maps.shape.height);
  if (has_classes)
    write_png(dir / slide_file_name(slide, ".overlay.png"),
              render_overlay(maps.prediction.data(), thumbnail.data(), width, height, summary.class_names,
                             slide.class_fractions, options));
  if (summary.feature_size <= 0) return;
  const auto tiles = read_tile_bounds(path, slide.tile_start, slide.tile_count);
  const cv::Mat blend = has_classes
                            ? blend_prediction(maps.prediction.data(), thumbnail.data(), width, height, options.alpha)
                            : cv::Mat();
  // Each tile in its colour over the thumbnail, beside the blend.
  const auto draw = [&](const std::vector<uint8_t>& colours, const char* suffix) {
    const cv::Mat painted =
        paint_tile_colours(tiles, colours.data(), size_from_scale({slide.width, slide.height}, slide.scale),
                           Size{maps.shape.width, maps.shape.height}, thumbnail.data());
    write_png(dir / slide_file_name(slide, suffix), render_feature_picture(painted, blend, options.min_map_long_side));
  };
  const auto features = read_tile_features(path, slide.tile_start, slide.tile_count);
  draw(tile_colours(features, slide, summary.feature_size, cohort), ".features.png");
  if (umap.holds(summary, index)) draw(umap.of(path, slide), ".umap.png");
}

int render(const po::variables_map& vm) {
  if (!vm.count("file")) throw UsageError("no cohort file given (wsi-mpi render FILE.h5 --output DIR)");
  if (!vm.count("output")) throw UsageError("--output is required");
  const std::string path = vm["file"].as<std::string>();
  OverlayOptions options;
  options.alpha = vm["alpha"].as<double>();
  options.min_map_long_side = vm["min-size"].as<int>();
  if (!(options.alpha >= 0 && options.alpha <= 1)) throw UsageError("--alpha: must be in [0, 1]");
  if (options.min_map_long_side < 1 || options.min_map_long_side > 20000)
    throw UsageError("--min-size: must be in 1..20000");
  const std::string pca_mode = vm["pca"].as<std::string>();
  if (pca_mode != "slide" && pca_mode != "cohort") throw UsageError("--pca: expected slide or cohort");
  if (!fs::is_regular_file(path)) throw UsageError("cohort file '" + path + "' does not exist");

  CohortSummary summary;
  try {
    summary = read_cohort_summary(path);
  } catch (const std::exception& e) {
    throw UsageError(e.what());  // not a cohort file, or not one this version reads
  }
  // A features-only job may still list its model's classes: maps need the probabilities.
  if ((summary.class_names.empty() || !summary.has_probabilities) && summary.feature_size <= 0)
    throw std::runtime_error("cohort file '" + path + "' has neither classes nor features: nothing to render");
  const std::vector<size_t> slides = selected_slides(summary, vm, path);
  const CohortColours cohort =
      summary.feature_size > 0 && pca_mode == "cohort" ? pca_colours(path, summary) : CohortColours{};
  const UmapColours umap(path, summary);
  const bool needs_slide_files = std::any_of(slides.begin(), slides.end(),
                                             [&](size_t i) { return !keeps_thumbnail(summary.maps.at(i)); });
  const SlideFiles files = needs_slide_files ? slide_files(vm, path, summary) : SlideFiles{};
  const fs::path dir = vm["output"].as<std::string>();
  fs::create_directories(dir);
  for (size_t i : slides) render_slide(path, summary, i, cohort, umap, files, options, dir);
  spdlog::info("rendered {} slide(s) into {}", slides.size(), dir.string());
  return kExitOk;
}

}  // namespace

int render_command(int argc, char** argv) {
  return run_subcommand("render", argc, argv, render_options(), "file", render);
}

}  // namespace wsi::cli
