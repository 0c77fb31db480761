// `wsi-mpi render FILE.h5 [--slide ID] --output DIR`: DIR/<slide key>.overlay.png per done slide,
// the prediction map blended over the thumbnail with a legend and class fractions; and, when the
// file has features, DIR/<slide key>.features.png (their PCA as RGB, see wsi/render/feature_picture.hpp).
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <iostream>
#include <optional>
#include <stdexcept>

#include <opencv2/imgcodecs.hpp>
#include <spdlog/spdlog.h>

#include "cli/cli.hpp"
#include "cli/options.hpp"
#include "wsi/cohort/cohort_file.hpp"
#include "wsi/render/export.hpp"
#include "wsi/render/feature_picture.hpp"
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
                            "the prediction blend when there is one. Options");
  o.add_options()
      ("help,h", "show this help")
      ("file", po::value<std::string>(), "cohort file (FILE.h5; also the first positional argument)")
      ("slide", po::value<std::string>(), "render only this slide (its id, or its key under /maps)")
      ("output", po::value<std::string>(), "folder to write (made if missing)")
      ("alpha", po::value<double>()->default_value(0.4, "0.4"), "weight of the class colours over tissue, 0..1")
      ("min-size", po::value<int>()->default_value(512),
       "upscale small maps (nearest neighbour, integer factor) to at least this long side, px")
      ("pca", po::value<std::string>()->default_value("slide"),
       "features.png: principal components and colour scale per slide, or over every done slide of the cohort "
       "(cohort: colours comparable between slides)");
  return o;
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
  const bool has_classes = !summary.class_names.empty() && summary.has_probabilities;
  const bool has_features = summary.feature_size > 0;
  if (!has_classes && !has_features)
    throw std::runtime_error("cohort file '" + path + "' has neither classes nor features: nothing to render");

  std::vector<size_t> slides;
  if (vm.count("slide")) {
    const std::string wanted = vm["slide"].as<std::string>();
    auto it = std::find_if(summary.slides.begin(), summary.slides.end(),
                           [&](const SlideRow& s) { return s.id == wanted; });
    if (it == summary.slides.end())
      it = std::find_if(summary.slides.begin(), summary.slides.end(),
                        [&](const SlideRow& s) { return s.key == wanted; });
    if (it == summary.slides.end()) throw UsageError("cohort file '" + path + "' has no slide '" + wanted + "'");
    if (it->status != SlideStatus::done)
      throw std::runtime_error("slide '" + wanted + "' is not done (status " +
                               (it->status == SlideStatus::failed ? "failed: " + it->error : std::string("pending")) +
                               "): it has no prediction map yet");
    slides.push_back(static_cast<size_t>(it - summary.slides.begin()));
  } else {
    for (size_t i = 0; i < summary.slides.size(); ++i)
      if (summary.slides[i].status == SlideStatus::done) slides.push_back(i);
    if (slides.empty()) throw std::runtime_error("cohort file '" + path + "' has no done slides to render");
  }

  // --pca cohort: one basis and one colour scale over every done slide (moments first, then the
  // scores for the percentiles: two reads of the features, memory D x D + 3 floats per tile).
  std::optional<FeaturePca> cohort_pca;
  ScoreRange cohort_range;
  if (has_features && pca_mode == "cohort") {
    FeatureMoments moments;
    for (const SlideRow& s : summary.slides)
      if (s.status == SlideStatus::done && s.tile_count > 0) {
        const auto f = read_tile_features(path, s.tile_start, s.tile_count);
        accumulate_feature_moments(moments, f.data(), s.tile_count, summary.feature_size);
      }
    if (moments.count > 0) {
      cohort_pca = feature_pca(moments);
      std::vector<float> scores;
      for (const SlideRow& s : summary.slides)
        if (s.status == SlideStatus::done && s.tile_count > 0) {
          const auto f = read_tile_features(path, s.tile_start, s.tile_count);
          const auto part = project_features(*cohort_pca, f.data(), s.tile_count);
          scores.insert(scores.end(), part.begin(), part.end());
        }
      cohort_range = score_range(scores);
    }
  }

  const fs::path dir = vm["output"].as<std::string>();
  fs::create_directories(dir);
  for (size_t i : slides) {
    const SlideRow& slide = summary.slides[i];
    const SlideMaps maps = read_slide_maps(path, slide.key);
    const size_t pixels = static_cast<size_t>(maps.shape.height) * static_cast<size_t>(maps.shape.width);
    if (pixels == 0 || maps.prediction.size() != pixels)
      throw std::runtime_error("slide '" + slide.id + "' has no usable prediction map in '" + path + "'");
    const std::vector<uint8_t> thumbnail = thumbnail_at_map_size(maps, slide);
    options.title = slide.id;
    const int width = static_cast<int>(maps.shape.width), height = static_cast<int>(maps.shape.height);
    if (has_classes) {
      const cv::Mat picture = render_overlay(maps.prediction.data(), thumbnail.data(), width, height,
                                             summary.class_names, slide.class_fractions, options);
      const fs::path out = dir / slide_file_name(slide, ".overlay.png");
      if (!cv::imwrite(out.string(), picture)) throw std::runtime_error("cannot write '" + out.string() + "'");
      std::cout << out.string() << std::endl;
    }
    if (has_features) {
      const auto features = read_tile_features(path, slide.tile_start, slide.tile_count);
      const auto tiles = read_tile_bounds(path, slide.tile_start, slide.tile_count);
      std::vector<uint8_t> colours;
      if (slide.tile_count > 0) {
        std::vector<float> scores;
        if (cohort_pca) {
          scores = project_features(*cohort_pca, features.data(), slide.tile_count);
          colours = scores_to_rgb(scores, cohort_range);
        } else {
          FeatureMoments moments;
          accumulate_feature_moments(moments, features.data(), slide.tile_count, summary.feature_size);
          scores = project_features(feature_pca(moments), features.data(), slide.tile_count);
          colours = scores_to_rgb(scores, score_range(scores));
        }
      }
      const cv::Mat painted = paint_tile_colours(tiles, colours.data(), size_from_scale({slide.width, slide.height}, slide.scale),
                                                 Size{maps.shape.width, maps.shape.height}, thumbnail.data());
      const cv::Mat blend =
          has_classes ? blend_prediction(maps.prediction.data(), thumbnail.data(), width, height, options.alpha)
                      : cv::Mat();
      const cv::Mat picture = render_feature_picture(painted, blend, options.min_map_long_side);
      const fs::path out = dir / slide_file_name(slide, ".features.png");
      if (!cv::imwrite(out.string(), picture)) throw std::runtime_error("cannot write '" + out.string() + "'");
      std::cout << out.string() << std::endl;
    }
  }
  spdlog::info("rendered {} slide(s) into {}", slides.size(), dir.string());
  return kExitOk;
}

}  // namespace

int render_command(int argc, char** argv) {
  return run_subcommand("render", argc, argv, render_options(), "file", render);
}

}  // namespace wsi::cli
