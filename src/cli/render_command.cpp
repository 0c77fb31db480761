// `wsi-mpi render FILE.h5 [--slide ID] --output DIR`: DIR/<slide key>.overlay.png per done slide,
// the prediction map blended over the thumbnail with a legend and class fractions.
#include <algorithm>
#include <filesystem>
#include <iostream>
#include <stdexcept>

#include <opencv2/imgcodecs.hpp>
#include <spdlog/spdlog.h>

#include "cli/cli.hpp"
#include "cli/options.hpp"
#include "wsi/cohort/cohort_file.hpp"
#include "wsi/render/overlay.hpp"
#include "wsi/schedule/job_runner.hpp"

namespace wsi::cli {
namespace {

namespace fs = std::filesystem;

po::options_description render_options() {
  po::options_description o("wsi-mpi render FILE.h5 [--slide ID] --output DIR\n\n"
                            "Writes DIR/<slide key>.overlay.png for every done slide of the cohort file (or the\n"
                            "one given): the prediction map blended over the slide's thumbnail, with the class\n"
                            "colours (Tableau 10) and each class's fraction of the slide's tiles. Options");
  o.add_options()
      ("help,h", "show this help")
      ("file", po::value<std::string>(), "cohort file (FILE.h5; also the first positional argument)")
      ("slide", po::value<std::string>(), "render only this slide (its id, or its key under /maps)")
      ("output", po::value<std::string>(), "folder to write (made if missing)")
      ("alpha", po::value<double>()->default_value(0.4, "0.4"), "weight of the class colours over tissue, 0..1")
      ("min-size", po::value<int>()->default_value(512),
       "upscale small maps (nearest neighbour, integer factor) to at least this long side, px");
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
  if (!fs::is_regular_file(path)) throw UsageError("cohort file '" + path + "' does not exist");

  CohortSummary summary;
  try {
    summary = read_cohort_summary(path);
  } catch (const std::exception& e) {
    throw UsageError(e.what());  // not a cohort file, or not one this version reads
  }
  if (summary.class_names.empty())
    throw std::runtime_error("cohort file '" + path + "' has no classes (a features-only job): no prediction maps");

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

  const fs::path dir = vm["output"].as<std::string>();
  fs::create_directories(dir);
  for (size_t i : slides) {
    const SlideRow& slide = summary.slides[i];
    const SlideMaps maps = read_slide_maps(path, slide.key);
    const size_t pixels = static_cast<size_t>(maps.shape.height) * static_cast<size_t>(maps.shape.width);
    if (pixels == 0 || maps.prediction.size() != pixels || maps.thumbnail.size() != 3 * pixels)
      throw std::runtime_error("slide '" + slide.id + "' has no usable prediction map and thumbnail in '" + path +
                               "'");
    options.title = slide.id;
    const cv::Mat picture =
        render_overlay(maps.prediction.data(), maps.thumbnail.data(), static_cast<int>(maps.shape.width),
                       static_cast<int>(maps.shape.height), summary.class_names, slide.class_fractions, options);
    const fs::path out = dir / (slide.key + ".overlay.png");
    if (!cv::imwrite(out.string(), picture)) throw std::runtime_error("cannot write '" + out.string() + "'");
    std::cout << out.string() << std::endl;
  }
  spdlog::info("rendered {} slide(s) into {}", slides.size(), dir.string());
  return kExitOk;
}

}  // namespace

int render_command(int argc, char** argv) {
  return run_subcommand("render", argc, argv, render_options(), "file", render);
}

}  // namespace wsi::cli
