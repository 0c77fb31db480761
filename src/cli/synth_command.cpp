// `wsi-mpi synth`: a synthetic cohort to try the tool on: slides, manifest, ground-truth
// layouts, the demo colour model and a job file.
#include <cmath>
#include <filesystem>
#include <iostream>

#include <spdlog/spdlog.h>

#include "cli/cli.hpp"
#include "cli/options.hpp"
#include "util/exclusive_file.hpp"
#include "wsi/model/model.hpp"
#include "wsi/synth/synth_slide.hpp"

namespace wsi::cli {
namespace {

namespace fs = std::filesystem;

po::options_description synth_options() {
  po::options_description o("wsi-mpi synth --output DIR [options]\n\n"
                            "Writes DIR/manifest.csv, DIR/slide_NNN.svs (Aperio-style pyramidal JPEG TIFFs),\n"
                            "DIR/layouts/slide_NNN.csv (the ground-truth class regions, level-0 px),\n"
                            "DIR/model.pt (a DEMO model that tells the synthetic classes apart by colour)\n"
                            "and DIR/job.ini (run it with: wsi-mpi run --job DIR/job.ini). Options");
  o.add_options()
      ("help,h", "show this help")
      ("output", po::value<std::string>(), "folder to write")
      ("slides", po::value<int>()->default_value(3), "number of slides")
      ("size", po::value<std::string>()->default_value("6000x4000"), "level-0 size WxH of the largest slide")
      ("vary-size", po::bool_switch(), "make slide i smaller than the largest (for unequal cohorts)")
      ("levels", po::value<int>()->default_value(3), "pyramid levels")
      ("mpp", po::value<double>()->default_value(0.5), "microns per level-0 px")
      ("seed", po::value<uint32_t>()->default_value(1), "seed of the layouts and textures");
  return o;
}

SynthSlideSpec slide_spec(const po::variables_map& vm, int index) {
  SynthSlideSpec spec;
  const std::string size = vm["size"].as<std::string>();
  const auto x = size.find('x');
  try {
    if (x == std::string::npos) throw std::invalid_argument(size);
    spec.width = std::stoll(size.substr(0, x));
    spec.height = std::stoll(size.substr(x + 1));
  } catch (const std::exception&) {
    throw std::invalid_argument("--size: expected WxH, got '" + size + "'");
  }
  if (spec.width < 256 || spec.height < 256) throw std::invalid_argument("--size: at least 256x256");
  if (vm["vary-size"].as<bool>()) {
    // Areas 1, 1/2, 1/4, ... of the largest, cycling, so ranks get very unequal slides.
    const double side = 1.0 / std::pow(2.0, (index % 4) / 2.0);
    spec.width = std::max<int64_t>(1024, static_cast<int64_t>(spec.width * side));
    spec.height = std::max<int64_t>(1024, static_cast<int64_t>(spec.height * side));
  }
  spec.levels = vm["levels"].as<int>();
  spec.mpp = vm["mpp"].as<double>();
  spec.objective_power = 10.0 / spec.mpp;
  spec.seed = vm["seed"].as<uint32_t>() * 1000003u + static_cast<uint32_t>(index);
  if (spec.levels < 1) throw std::invalid_argument("--levels: at least 1");
  if (spec.mpp <= 0) throw std::invalid_argument("--mpp: must be positive");
  return spec;
}

void write_job_file(const fs::path& dir) {
  write_file_atomically((dir / "job.ini").string(),
         "# wsi-mpi job for the synthetic demo cohort (paths are relative to this file).\n"
         "# Run: wsi-mpi run --job job.ini   (or: mpirun -n 2 wsi-mpi run --job job.ini)\n"
         "slides = manifest.csv\n"
         "output = cohort.h5\n"
         "model = model.pt\n"
         "mode = classify\n"
         "resolution = 0.5\n"
         "units = mpp\n"
         "patch = 224\n"
         "stride = 224\n"
         "overview-resolution = 4\n"
         "overview-units = mpp\n"
         "unit-tiles = 64\n");
}

int synthesise(const po::variables_map& vm) {
  if (!vm.count("output")) throw std::invalid_argument("--output is required");
  const fs::path dir = vm["output"].as<std::string>();
  const int count = vm["slides"].as<int>();
  if (count < 1) throw std::invalid_argument("--slides: at least 1");
  fs::create_directories(dir / "layouts");
  std::string manifest = "slide_id,path\n";
  for (int i = 0; i < count; ++i) {
    char name[32];
    std::snprintf(name, sizeof name, "slide_%03d", i + 1);
    const SynthSlideSpec spec = slide_spec(vm, i);
    const SynthLayout layout = make_synth_layout(spec);
    write_synth_slide((dir / (std::string(name) + ".svs")).string(), spec, layout);
    write_layout_csv((dir / "layouts" / (std::string(name) + ".csv")).string(), layout);
    manifest += std::string(name) + "," + name + ".svs\n";
    spdlog::info("wrote {} ({}x{}, {} levels, {} regions)", name, spec.width, spec.height, spec.levels,
                 layout.regions.size());
  }
  std::vector<DemoClass> classes;
  for (const SynthClass& c : synth_classes()) classes.push_back({c.name, c.rgb});
  write_file_atomically((dir / "manifest.csv").string(), manifest);
  write_demo_model((dir / "model.pt").string(), classes);
  write_job_file(dir);
  std::cout << "synthetic cohort: " << (dir / "manifest.csv").string() << "\n"
            << "demo model:       " << (dir / "model.pt").string() << "\n"
            << "job file:         " << (dir / "job.ini").string() << std::endl;
  return kExitOk;
}

}  // namespace

int synth_command(int argc, char** argv) {
  return run_subcommand("synth", argc, argv, synth_options(), nullptr, synthesise);
}

}  // namespace wsi::cli
