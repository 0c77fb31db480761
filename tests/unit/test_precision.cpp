// Inference options against fp32 (PyTorch's probabilities for the same weights and patches, from
// tests/python/model_reference.py): channels-last fp32 within 1e-4; bf16 within 0.01 of each
// probability in channels-last (its default; measured 0.004) and 0.03 in NCHW (measured 0.020,
// other oneDNN kernels), with the same argmax; fp16 refused on the CPU. The command line's
// --precision / --channels-last reach the model: a run on a real slide agrees with fp32.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <sys/wait.h>

#include "test_support.hpp"
#include "wsi/model/model.hpp"

using wsi::ModelOptions;
using wsi::Precision;

namespace {

using wsi::test::max_abs_diff;
using wsi::test::read_raw;

const std::filesystem::path& reference() {
  static const std::filesystem::path dir = [] {
    auto d = wsi::test::scratch_dir("precision-r18");
    wsi::test::run_python("model_reference.py", d.string() + " r18");
    return d;
  }();
  return dir;
}

std::vector<int> argmax_rows(const std::vector<float>& p, size_t classes) {
  std::vector<int> out;
  for (size_t i = 0; i + classes <= p.size(); i += classes)
    out.push_back(int(std::max_element(p.begin() + long(i), p.begin() + long(i + classes)) - p.begin() - long(i)));
  return out;
}

// Probabilities of the reference patches under `options`, and PyTorch's fp32 ones.
std::pair<std::vector<float>, std::vector<float>> run(ModelOptions options) {
  options.model = "resnet18-kather100k";
  options.weights = (reference() / "r18_ordered.pth").string();
  options.threads = 2;
  auto model = wsi::load_model(options);
  auto patches = read_raw<uint8_t>(reference() / "patches.u8");
  const int n = int(patches.size() / (224 * 224 * 3));
  auto result = model->run(patches.data(), n, true, false);
  return {result.probabilities, read_raw<float>(reference() / "r18.probs.f32")};
}

}  // namespace

TEST_CASE("fp32 channels-last agrees with fp32 within 1e-4", "[precision]") {
  for (int channels_last : {0, 1, -1}) {
    INFO("channels_last " << channels_last);
    ModelOptions o;
    o.channels_last = channels_last;
    auto [probs, expected] = run(o);
    CHECK(max_abs_diff(probs, expected) < 1e-4);
  }
}

TEST_CASE("bf16 agrees with fp32 within 0.01 (channels-last) / 0.03 (NCHW) per probability", "[precision]") {
  for (int channels_last : {-1, 0, 1}) {
    INFO("channels_last " << channels_last);
    ModelOptions o;
    o.precision = Precision::bf16;
    o.channels_last = channels_last;
    auto [probs, expected] = run(o);
    const double diff = max_abs_diff(probs, expected);
    WARN("bf16 channels_last " << channels_last << ": max |p - p_fp32| = " << diff);
    CHECK(diff < (channels_last == 0 ? 0.03 : 0.01));
    CHECK(argmax_rows(probs, 9) == argmax_rows(expected, 9));
  }
}

TEST_CASE("fp16 is refused on the CPU, naming CUDA", "[precision]") {
  ModelOptions o;
  o.precision = Precision::fp16;
  CHECK_THROWS_WITH(run(o), Catch::Contains("CUDA"));
}

TEST_CASE("the command line's --channels-last and --precision agree with fp32 on a real slide", "[precision][e2e]") {
  const auto dir = wsi::test::scratch_dir("precision-cli");
  const std::string slide = wsi::test::shared_data("cmu-1-small-region/CMU-1-Small-Region.svs");
  // Seeded weights whose top class varies over this slide's tiles (tiatoolbox_reference.py).
  const std::string weights = (dir / "r18.pth").string();
  wsi::test::run_command(std::string(WSI_TEST_PYTHON) + " -c \"import sys; sys.path.insert(0, '" + WSI_TESTS_DIR +
                         "/python'); import tiatoolbox_reference as t; s = t.Slide('" + slide +
                         "', None); b, _ = t.tiles(s, 0.5, 'mpp', 224, 224); "
                         "p = [s.read_bounds(x, 0.5, 'mpp', 'resolution', 255) for x in b[:48]]; "
                         "t.save_state_dict(t.seeded_model('resnet18', 9, p), '" + weights + "')\"");
  const std::string run = std::string(WSI_BINARY) + " run --slides " + slide +
                          " --model resnet18-kather100k --weights " + weights + " --threads 2 --batch-size 16 --output ";
  const auto out = [&](const std::string& name) { return (dir / (name + ".h5")).string(); };
  wsi::test::run_command(run + out("fp32"));
  wsi::test::run_command(run + out("nhwc") + " --channels-last on");
  wsi::test::run_command(run + out("bf16") + " --precision bf16");
  // Largest |difference| of /tiles/probabilities, and whether the argmax agrees everywhere.
  const auto compare = [&](const std::string& name) {
    return wsi::test::run_command(
        std::string(WSI_TEST_PYTHON) + " -c \"import h5py, numpy as np; a = h5py.File('" + out("fp32") +
        "')['/tiles/probabilities'][:]; b = h5py.File('" + out(name) +
        "')['/tiles/probabilities'][:]; assert a.shape == b.shape and len(a) > 50, a.shape; "
        "print(float(np.abs(a - b).max()), int((a.argmax(1) == b.argmax(1)).all()), len(set(a.argmax(1))))\"");
  };
  double diff = 0;
  int same_argmax = 0, classes_seen = 0;
  std::istringstream(compare("nhwc")) >> diff >> same_argmax >> classes_seen;
  CHECK(diff < 1e-4);
  CHECK(same_argmax == 1);
  CHECK(classes_seen > 1);  // the seeded weights do not give one class everywhere
  std::istringstream(compare("bf16")) >> diff >> same_argmax;
  CHECK(diff < 0.03);
  CHECK(diff > 0);  // bf16 did run: not fp32's bytes
  // Unknown values and fp16 on the CPU are usage errors (exit 2), naming the option.
  const int bad = std::system((run + out("bad") + " --channels-last sideways > " + (dir / "bad.log").string() + " 2>&1").c_str());
  CHECK(WEXITSTATUS(bad) == 2);
  std::ifstream log(dir / "bad.log");
  const std::string text((std::istreambuf_iterator<char>(log)), std::istreambuf_iterator<char>());
  CHECK_THAT(text, Catch::Contains("--channels-last"));
  const int fp16 = std::system((run + out("fp16") + " --precision fp16 > /dev/null 2>&1").c_str());
  CHECK(WEXITSTATUS(fp16) == 2);
}
