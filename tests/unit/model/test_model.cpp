// The model stage against PyTorch itself: built-in CNNModels loaded from state_dicts in every
// form torch.save writes, refused state_dicts, TorchScript files with wsi_model.json, the demo
// colour model. Reference data comes from tests/python/model_reference.py.
#include <catch2/catch.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <fstream>

#include "test_support.hpp"
#include "wsi/model/model.hpp"

namespace {

using wsi::test::max_abs_diff;
using wsi::test::read_raw;

using wsi::ModelOptions;

std::filesystem::path make_reference(const std::string& what) {
  std::string name = what;
  std::replace(name.begin(), name.end(), ':', '-');
  auto dir = wsi::test::scratch_dir("model-" + name);
  wsi::test::run_python("model_reference.py", dir.string() + " " + what);
  return dir;
}

double max_rel_diff(const std::vector<float>& a, const std::vector<float>& b) {
  double scale = 0;
  for (float v : b) scale = std::max(scale, double(std::fabs(v)));
  return max_abs_diff(a, b) / std::max(scale, 1e-12);
}

// Runs the reference patches through `model`, compares with <name>.probs/.feats.
void check_model(wsi::Model& model, const std::filesystem::path& dir, const std::string& name,
                 bool check_features = true) {
  auto patches = read_raw<uint8_t>(dir / "patches.u8");
  int n = int(patches.size() / (224 * 224 * 3));
  auto result = model.run(patches.data(), n, true, check_features);
  CHECK(max_abs_diff(result.probabilities, read_raw<float>(dir / (name + ".probs.f32"))) < 1e-4);
  if (check_features) CHECK(max_rel_diff(result.features, read_raw<float>(dir / (name + ".feats.f32"))) < 1e-4);
}

void check_against(const std::filesystem::path& dir, const std::string& name, const ModelOptions& options,
                   bool check_features = true) {
  INFO("model " << options.model << " weights " << options.weights);
  check_model(*wsi::load_model(options), dir, name, check_features);
}

std::string load_error(const ModelOptions& options) {
  try {
    wsi::load_model(options);
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("resnet18-kather100k reads every state_dict form torch.save writes", "[model]") {
  auto dir = make_reference("r18");
  ModelOptions options;
  options.model = "resnet18-kather100k";
  options.threads = 2;
  for (const char* file : {"r18_ordered.pth", "r18_dict.pth", "r18_cuda.pth", "r18_shared.pth", "r18_torchvision.pth",
                           "r18_checkpoint.pth"}) {
    options.weights = (dir / file).string();
    check_against(dir, "r18", options);
  }

  auto model = wsi::load_model(options);
  const auto& d = model->description();
  CHECK(d.class_names == wsi::kather100k_classes());
  CHECK(d.feature_size == 512);
  CHECK(d.input_width == 224);
  CHECK(d.input_height == 224);
  CHECK(d.mean == std::array<double, 3>{0, 0, 0});
  CHECK(d.std == std::array<double, 3>{1, 1, 1});

  {  // plain resnet18 takes its classes from the options
    ModelOptions plain = options;
    plain.model = "resnet18";
    CHECK_THAT(load_error(plain), Catch::Contains("--classes"));
    plain.classes = {"a", "b", "c", "d", "e", "f", "g", "h", "i"};
    check_against(dir, "r18", plain);
    CHECK(wsi::load_model(plain)->description().class_names == plain.classes);
    plain.classes = {"a", "b"};
    CHECK_THAT(load_error(plain), Catch::Contains("classifier.weight"));
    plain.classes.clear();
    plain.output = "features";
    auto features = wsi::load_model(plain);
    CHECK(features->description().feature_size == 512);
    auto patches = read_raw<uint8_t>(dir / "patches.u8");
    auto result = features->run(patches.data(), 1, false, true);
    CHECK(result.features.size() == 512);
  }

  {  // precision and device
    ModelOptions bf16 = options;
    bf16.precision = wsi::Precision::bf16;
    auto model16 = wsi::load_model(bf16);
    auto patches = read_raw<uint8_t>(dir / "patches.u8");
    auto result = model16->run(patches.data(), 2, true, false);
    CHECK(max_abs_diff(result.probabilities, read_raw<float>(dir / "r18.probs.f32")) < 0.05);

    ModelOptions fp16 = options;
    fp16.precision = wsi::Precision::fp16;
    CHECK_THAT(load_error(fp16), Catch::Contains("fp16 needs CUDA"));

    ModelOptions cuda = options;
    cuda.device = "cuda";
    std::string error = load_error(cuda);
    if (!error.empty()) CHECK_THAT(error, Catch::Contains("CUDA"));
    cuda.device = "auto";
    CHECK(load_error(cuda).empty());
  }
  std::filesystem::remove_all(dir);  // hundreds of MB of weights
}

TEST_CASE("the rule decides the numeric configuration without timing, and measuring keeps PyTorch's results",
          "[model]") {
  auto dir = make_reference("r18");
  ModelOptions options;
  options.model = "resnet18-kather100k";
  options.weights = (dir / "r18_ordered.pth").string();
  options.threads = 2;
  const std::string isa = wsi::cpu_isa_class(wsi::cpu_features());

  auto ruled = wsi::load_model(options);  // configured by the rule
  const wsi::NumericConfig r = ruled->configuration();
  CHECK(r.decided_by == "rule");
  CHECK(r.measured_tiles_per_second == 0);
  CHECK(r.device == "cpu");
  CHECK(r.precision == wsi::Precision::fp32);
  CHECK_FALSE(r.channels_last);
  CHECK(r.optimized);  // fp32 NCHW on a CPU: optimize_for_inference, which keeps the results
  CHECK(r.batch_size == 8);
  CHECK(r.cpu_isa == isa);
  CHECK(r.libtorch == wsi::libtorch_version());
  check_model(*ruled, dir, "r18");
  // Nothing timed: another load decides the same, whatever the machine is doing.
  CHECK(wsi::to_json(wsi::load_model(options)->configuration()) == wsi::to_json(r));

  ModelOptions pinned = options;  // the job's batch size and layout are kept
  pinned.batch_size = 16, pinned.channels_last = 1;
  const wsi::NumericConfig p = wsi::load_model(pinned)->configuration();
  CHECK(p.batch_size == 16);
  CHECK(p.channels_last);

  ModelOptions automatic = options;  // bf16 only where the CPU has it natively
  automatic.precision = wsi::Precision::automatic;
  auto chosen = wsi::load_model(automatic);
  const bool native = wsi::cpu_has_native_bf16(wsi::cpu_features());
  CHECK(chosen->configuration().precision == (native ? wsi::Precision::bf16 : wsi::Precision::fp32));
  CHECK(chosen->configuration().channels_last == native);
  auto patches = read_raw<uint8_t>(dir / "patches.u8");
  auto result = chosen->run(patches.data(), 2, true, false);
  CHECK(max_abs_diff(result.probabilities, read_raw<float>(dir / "r18.probs.f32")) < 0.05);

  ModelOptions measuring = options;  // --autotune: candidates checked against fp32, then timed
  measuring.configure = false;
  measuring.batch_size = 8;
  auto measured = wsi::load_model(measuring);
  CHECK_THROWS_WITH(measured->run(patches.data(), 1, true, false), Catch::Contains("before use_configuration"));
  const wsi::NumericConfig m = measured->measured_configuration(measuring);
  INFO(m.measurement);
  CHECK(m.decided_by == "measured");
  CHECK(m.measured_tiles_per_second > 0);
  CHECK(m.batch_size == 8);
  CHECK_THAT(m.measurement, Catch::Contains("fp32 NCHW batch 8") && Catch::Contains("fp32 NCHW optimized batch 8") &&
                                Catch::Contains("fp32 channels-last optimized batch 8"));
  measured->use_configuration(m);
  check_model(*measured, dir, "r18");

  wsi::NumericConfig other = r;  // decided for another instruction set, or another device: refused
  other.cpu_isa = isa == "avx2" ? "avx512_core" : "avx2";
  CHECK_THROWS_WITH(measured->use_configuration(other), Catch::Contains("instruction set " + other.cpu_isa));
  other = r;
  other.device = "cuda";
  CHECK_THROWS_WITH(measured->use_configuration(other), Catch::Contains("runs on cuda"));
  std::filesystem::remove_all(dir);
}

TEST_CASE("resnet50-kather100k matches PyTorch", "[model]") {
  auto dir = make_reference("r50");
  ModelOptions options;
  options.model = "resnet50-kather100k";
  options.weights = (dir / "r50.pth").string();
  options.threads = 2;
  check_against(dir, "r50", options);
  CHECK(wsi::load_model(options)->description().feature_size == 2048);
  std::filesystem::remove_all(dir);  // hundreds of MB of weights
}

// Every built-in architecture against torchvision (hidden: large files; run with "[.model-arch]").
TEST_CASE("every built-in architecture matches torchvision", "[.model-arch]") {
  for (const char* arch : {"resnet34", "resnet101", "resnext50_32x4d", "wide_resnet50_2"}) {
    auto dir = make_reference(std::string("arch:") + arch);
    ModelOptions options;
    options.model = std::string(arch) + "-kather100k";
    options.weights = (dir / (std::string(arch) + ".pth")).string();
    options.threads = 2;
    check_against(dir, arch, options);
    std::filesystem::remove_all(dir);
  }
}

TEST_CASE("state_dicts that do not fit are refused, naming the file and the mismatch", "[model]") {
  auto dir = make_reference("bad");
  ModelOptions options;
  options.model = "resnet18-kather100k";
  auto error_for = [&](const char* file) {
    options.weights = (dir / file).string();
    std::string error = load_error(options);
    CHECK_THAT(error, Catch::Contains(file));
    return error;
  };
  auto shape = error_for("r50_as_r18.pth");
  CHECK_THAT(shape, Catch::Contains("feat_extract.4.0.conv1.weight"));
  CHECK_THAT(shape, Catch::Contains("[64, 64, 1, 1]") && Catch::Contains("[64, 64, 3, 3]"));
  CHECK_THAT(error_for("missing.pth"), Catch::Contains("missing key feat_extract.5.0.bn2.running_var"));
  CHECK_THAT(error_for("unexpected.pth"), Catch::Contains("unexpected key head.extra.weight"));
  CHECK_THAT(error_for("legacy.pth"), Catch::Contains("legacy"));
  CHECK_THAT(error_for("garbage.pth"), Catch::Contains("not a PyTorch"));
  CHECK_THAT(error_for("nothing-here.pth"), Catch::Contains("not found"));

  options.weights.clear();
  CHECK_THAT(load_error(options), Catch::Contains("--weights"));
  options.model = (dir / "no-such-model.pt").string();
  CHECK_THAT(load_error(options), Catch::Contains("no-such-model.pt") && Catch::Contains("built-in"));
  options.model = (dir / "missing.pth").string();  // a state_dict is not TorchScript
  CHECK_THAT(load_error(options), Catch::Contains("missing.pth") && Catch::Contains("newer than this LibTorch"));
  std::filesystem::remove_all(dir);  // hundreds of MB of weights
}

TEST_CASE("TorchScript files carry their description, which options override", "[model]") {
  auto dir = make_reference("script");
  ModelOptions options;
  options.model = (dir / "tuple.pt").string();
  options.threads = 2;
  auto model = wsi::load_model(options);
  const auto& d = model->description();
  CHECK(d.class_names == wsi::kather100k_classes());
  CHECK(d.feature_size == 512);
  CHECK(d.output == wsi::ModelOutput::logits);
  CHECK(d.mean == std::array<double, 3>{0.1, 0.2, 0.3});
  CHECK(d.std == std::array<double, 3>{0.9, 1.0, 1.1});
  check_model(*model, dir, "norm");

  options.mean = {0, 0, 0};
  options.std = {1, 1, 1};
  options.classes = {"a", "b", "c", "d", "e", "f", "g", "h", "i"};
  auto overridden = wsi::load_model(options);
  CHECK(overridden->description().class_names == options.classes);
  CHECK(overridden->description().mean == std::array<double, 3>{0, 0, 0});
  check_model(*overridden, dir, "plain");

  options.classes = {"a", "b"};
  auto patches = read_raw<uint8_t>(dir / "patches.u8");
  auto wrong = wsi::load_model(options);
  try {
    wrong->run(patches.data(), 1, true, false);
    FAIL("a class count mismatch must throw");
  } catch (const std::runtime_error& e) {
    CHECK_THAT(e.what(), Catch::Contains("9 class scores") && Catch::Contains("declares 2 classes"));
  }

  ModelOptions small;
  small.model = (dir / "logits_nodesc.pt").string();
  CHECK_THAT(load_error(small), Catch::Contains("--classes"));
  small.classes = {"w", "x", "y", "z"};
  small.output = "logits";  // undescribed files default to probabilities
  auto tiny = wsi::load_model(small);
  auto result = tiny->run(patches.data(), 2, true, false);
  CHECK(max_abs_diff(result.probabilities, read_raw<float>(dir / "small.probs.f32")) < 1e-4);
  small.output = "features";
  small.classes.clear();
  auto as_features = wsi::load_model(small);
  CHECK(as_features->description().feature_size == 4);
  CHECK(as_features->run(patches.data(), 2, false, true).features.size() == 8);
  std::filesystem::remove_all(dir);  // hundreds of MB of weights
}

TEST_CASE("the demo colour model round-trips and tells colours apart", "[model]") {
  auto dir = wsi::test::scratch_dir("model-demo");
  std::vector<wsi::DemoClass> classes = {
      {"tumour", {150, 40, 120}}, {"stroma", {230, 150, 200}}, {"fat", {200, 200, 120}}, {"blood", {200, 30, 40}}};
  auto path = (dir / "model.pt").string();
  wsi::write_demo_model(path, classes);
  ModelOptions options;
  options.model = path;
  auto model = wsi::load_model(options);
  const auto& d = model->description();
  REQUIRE(d.class_names == std::vector<std::string>{"tumour", "stroma", "fat", "blood"});
  CHECK(d.output == wsi::ModelOutput::logits);
  CHECK(d.input_width == 224);
  CHECK(d.scale == Approx(1.0 / 255.0));

  std::vector<uint8_t> patches(classes.size() * 224 * 224 * 3);
  for (size_t i = 0; i < classes.size(); ++i)
    for (size_t p = 0; p < 224 * 224; ++p)
      for (size_t c = 0; c < 3; ++c) {
        int noise = int((p * 7 + c * 13) % 21) - 10;  // +-10 around the class colour
        patches[(i * 224 * 224 + p) * 3 + c] = uint8_t(std::clamp(int(classes[i].rgb[c]) + noise, 0, 255));
      }
  auto result = model->run(patches.data(), int(classes.size()), true, false);
  REQUIRE(result.probabilities.size() == classes.size() * classes.size());
  for (size_t i = 0; i < classes.size(); ++i) {
    auto row = result.probabilities.begin() + long(i * classes.size());
    CHECK(std::max_element(row, row + long(classes.size())) - row == long(i));
    CHECK(row[long(i)] > 0.5f);
  }
  // A patch on a region's edge: two thirds white background, a third stroma -> stroma.
  std::vector<uint8_t> edge(224 * 224 * 3, 245);
  for (size_t p = 0; p < 224 * 224; ++p)
    if (p % 224 < 75)
      for (size_t c = 0; c < 3; ++c) edge[p * 3 + c] = classes[1].rgb[c];
  auto edge_result = model->run(edge.data(), 1, true, false);
  CHECK(std::max_element(edge_result.probabilities.begin(), edge_result.probabilities.end()) -
            edge_result.probabilities.begin() == 1);
}

TEST_CASE("model helpers: names, enums, descriptions, null model", "[model]") {
  auto names = wsi::builtin_model_names();
  for (const char* name : {"resnet18-kather100k", "resnet34-kather100k", "resnet50-kather100k",
                           "resnet101-kather100k", "resnext50_32x4d-kather100k", "wide_resnet50_2-kather100k",
                           "resnet18", "wide_resnet50_2", "null"}) {
    CHECK(std::find(names.begin(), names.end(), name) != names.end());
  }

  CHECK(wsi::parse_model_output("logits") == wsi::ModelOutput::logits);
  CHECK(wsi::to_string(wsi::ModelOutput::features) == "features");
  CHECK_THROWS_AS(wsi::parse_model_output("scores"), std::invalid_argument);
  CHECK(wsi::parse_precision("bf16") == wsi::Precision::bf16);
  CHECK(wsi::to_string(wsi::Precision::fp16) == "fp16");
  CHECK_THROWS_AS(wsi::parse_precision("int8"), std::invalid_argument);

  wsi::ModelDescription d;
  d.class_names = {"a \"quoted\"", "b"};
  d.feature_size = 7;
  d.output = wsi::ModelOutput::features;
  d.input_width = 256;
  d.input_height = 128;
  d.mean = {0.485, 0.456, 0.406};
  d.std = {0.229, 0.224, 0.225};
  auto back = wsi::parse_model_description(wsi::to_json(d));
  CHECK(back.class_names == d.class_names);
  CHECK(back.feature_size == 7);
  CHECK(back.output == wsi::ModelOutput::features);
  CHECK(back.input_width == 256);
  CHECK(back.input_height == 128);
  CHECK(back.mean == d.mean);
  CHECK(back.std == d.std);
  auto sized = wsi::parse_model_description(R"({"input_width": 96, "input_height": 64, "scale": 1})");
  CHECK(sized.input_width == 96);
  CHECK(sized.scale == 1.0);
  CHECK_THROWS_WITH(wsi::parse_model_description(R"({"mean": [1, 2]})", "x.pt"), Catch::Contains("x.pt") && Catch::Contains("mean"));
  CHECK_THROWS_AS(wsi::parse_model_description("{not json"), std::invalid_argument);

  // Token outputs: how they are pooled, and how many leading tokens are not patch tokens.
  CHECK(back.pooling == wsi::TokenPooling::cls);  // the defaults: the class token, one prefix token
  CHECK(back.prefix_tokens == 1);
  auto virchow = wsi::parse_model_description(R"({"pooling": "cls+mean", "prefix_tokens": 5})");
  CHECK(virchow.pooling == wsi::TokenPooling::cls_mean);
  CHECK(virchow.prefix_tokens == 5);
  CHECK(wsi::parse_model_description(wsi::to_json(virchow)).prefix_tokens == 5);
  CHECK_THROWS_WITH(wsi::parse_model_description(R"({"pooling": "max"})", "v.pt"),
                    Catch::Contains("v.pt") && Catch::Contains("max"));
  CHECK_THROWS_WITH(wsi::parse_model_description(R"({"prefix_tokens": 0})", "v.pt"), Catch::Contains("prefix_tokens"));
  ModelOptions pool;
  pool.pooling = "mean", pool.prefix_tokens = 3;
  wsi::apply_model_options(virchow, pool);
  CHECK(virchow.pooling == wsi::TokenPooling::mean);
  CHECK(virchow.prefix_tokens == 3);

  // The BLAS behind LibTorch is found (this process has LibTorch loaded).
  const wsi::BlasBackend blas = wsi::blas_backend();
  INFO(blas.name << " " << blas.library);
  CHECK_FALSE(blas.library.empty());
  CHECK(blas.reference == (blas.library.find("/blas/") != std::string::npos));
  if (blas.library.find("openblas") != std::string::npos) CHECK(blas.name.rfind("OpenBLAS", 0) == 0);

  ModelOptions options;
  options.std = {1, 0, 1};
  CHECK_THROWS_AS(wsi::apply_model_options(d, options), std::invalid_argument);

  options = ModelOptions{};
  options.model = "null";
  auto null_model = wsi::load_model(options);
  CHECK(null_model->description().class_names == std::vector<std::string>{"slide", "row"});
  std::vector<uint8_t> patch(2 * 224 * 224 * 3, 51);
  null_model->set_tile_origin(7, 1000);
  auto result = null_model->run(patch.data(), 2, true, true);
  CHECK(result.probabilities == std::vector<float>{7.0f, 1000.0f, 7.0f, 1001.0f});
  CHECK(result.features.size() == 6);
  CHECK(result.features[0] == Approx(0.2));
}

TEST_CASE("a model's declared input size is a whole number of pixels in 1..4096 a side", "[model]") {
  const auto size = [](const std::string& json) {
    const auto d = wsi::parse_model_description(json, "m.pt");
    return std::array<int, 2>{d.input_width, d.input_height};
  };
  CHECK(size(R"({"input_size": [4096, 1]})") == std::array<int, 2>{4096, 1});
  CHECK(size(R"({"input_width": 300, "input_height": 200})") == std::array<int, 2>{300, 200});
  for (const char* json : {R"({"input_size": [4097, 224]})", R"({"input_size": [224, 1e12]})",
                           R"({"input_size": [0, 224]})", R"({"input_size": [224.5, 224]})",
                           R"({"input_width": 100000})", R"({"input_height": -3})"}) {
    INFO(json);
    CHECK_THROWS_WITH(wsi::parse_model_description(json, "m.pt"),
                      Catch::Contains("m.pt: input") && Catch::Contains("not a whole number in 1..4096"));
  }
}

TEST_CASE("the batch size follows the device and the input size when not given", "[model]") {
  CHECK(wsi::default_batch_size(false, 224, 224) == 8);
  CHECK(wsi::default_batch_size(false, 1024, 1024) == 8);
  CHECK(wsi::default_batch_size(true, 224, 224) == 256);
  CHECK(wsi::default_batch_size(true, 448, 448) == 64);
  CHECK(wsi::default_batch_size(true, 96, 96) == 1024);     // capped
  CHECK(wsi::default_batch_size(true, 8000, 8000) == 1);    // never 0
  ModelOptions options;
  options.model = "null";
  CHECK_FALSE(wsi::load_model(options)->on_gpu());
}
