// Torch-free parts of the model stage: enum parsing, wsi_model.json, option overrides, the
// built-in registry and the null model.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <type_traits>

#include "model/model_internal.hpp"
#include "util/enum_names.hpp"
#include "util/json.hpp"

namespace wsi {

namespace {

const std::vector<std::string> kArchitectures = {"resnet18",  "resnet34",        "resnet50",
                                                 "resnet101", "resnext50_32x4d", "wide_resnet50_2"};
const std::string kKatherSuffix = "-kather100k";

constexpr EnumName<ModelOutput> kModelOutputNames[] = {{ModelOutput::probabilities, "probabilities"},
                                                       {ModelOutput::logits, "logits"},
                                                       {ModelOutput::features, "features"}};
constexpr EnumName<TokenPooling> kTokenPoolingNames[] = {
    {TokenPooling::cls, "cls"}, {TokenPooling::mean, "mean"}, {TokenPooling::cls_mean, "cls+mean"}};
// The short names first (written back); PyTorch's dtype names are accepted too.
constexpr EnumName<Precision> kPrecisionNames[] = {
    {Precision::fp32, "fp32"},     {Precision::bf16, "bf16"},         {Precision::fp16, "fp16"},
    {Precision::fp32, "float32"},  {Precision::bf16, "bfloat16"},     {Precision::fp16, "float16"},
    {Precision::fp16, "half"},     {Precision::automatic, "auto"}};

// The member `key` as T, or std::invalid_argument naming the source and the key.
template <typename T>
T read_value(const Json& root, const std::string& key, const std::string& source, const char* expected) {
  const Json& node = root.at(key);
  const bool fits = std::is_same_v<T, std::string> ? node.is_string()
                    : std::is_integral_v<T>        ? node.is_number_integer()
                                                   : node.is_number();
  if (!fits) throw std::invalid_argument(source + ": \"" + key + "\" must be " + expected);
  return node.get<T>();
}

std::vector<double> read_numbers(const Json& root, const std::string& key, const std::string& source) {
  const Json& node = root.at(key);
  const bool numbers = node.is_array() && std::all_of(node.begin(), node.end(), [](const Json& v) { return v.is_number(); });
  if (!numbers) throw std::invalid_argument(source + ": \"" + key + "\" must be a list of numbers");
  return node.get<std::vector<double>>();
}

std::array<double, 3> read_triple(const Json& root, const std::string& key, const std::string& source) {
  auto values = read_numbers(root, key, source);
  if (values.size() != 3) throw std::invalid_argument(source + ": \"" + key + "\" needs 3 numbers (R,G,B)");
  return {values[0], values[1], values[2]};
}

// The longest input side a model may declare: one 4096 x 4096 patch is 192 MiB as float32, and
// every batch buffer, tile read and per-rank memory estimate is sized from it.
constexpr int kMaxInputSide = 4096;

// An input side as declared (a JSON number), checked before it becomes an int.
int input_side(double value, const char* what, const std::string& source) {
  if (!(value >= 1 && value <= kMaxInputSide) || value != std::floor(value))
    throw std::invalid_argument(source + ": input " + what + " " + Json(value).dump() + " is not a whole number in 1.." +
                                std::to_string(kMaxInputSide) + " (one 4096 x 4096 patch is 192 MiB as float32)");
  return static_cast<int>(value);
}

void read_input_size(const Json& root, ModelDescription& d, const std::string& source) {
  if (root.contains("input_size")) {
    auto values = read_numbers(root, "input_size", source);
    if (values.size() != 2) throw std::invalid_argument(source + ": \"input_size\" needs [width, height]");
    d.input_width = input_side(values[0], "width", source);
    d.input_height = input_side(values[1], "height", source);
  }
  if (root.contains("input_width"))
    d.input_width = input_side(read_value<double>(root, "input_width", source, "a number"), "width", source);
  if (root.contains("input_height"))
    d.input_height = input_side(read_value<double>(root, "input_height", source, "a number"), "height", source);
  if (d.input_width <= 0 || d.input_height <= 0) throw std::invalid_argument(source + ": input size must be positive");
}

void read_token_pooling(const Json& root, ModelDescription& d, const std::string& source) {
  if (root.contains("pooling")) {
    try {
      d.pooling = parse_token_pooling(read_value<std::string>(root, "pooling", source, "a string"));
    } catch (const std::invalid_argument& e) {
      throw std::invalid_argument(source + ": " + e.what());
    }
  }
  if (root.contains("prefix_tokens")) d.prefix_tokens = read_value<int>(root, "prefix_tokens", source, "an integer");
  if (d.prefix_tokens < 1)
    throw std::invalid_argument(source + ": \"prefix_tokens\" must be at least 1 (the class token)");
}

void check_std(const std::array<double, 3>& std, const std::string& source) {
  for (double s : std) {
    if (!(s > 0.0) || !std::isfinite(s)) throw std::invalid_argument(source + ": std values must be positive");
  }
}

}  // namespace

ModelOutput parse_model_output(const std::string& text) {
  return parse_enum(kModelOutputNames, text, "unknown model output");
}

std::string to_string(ModelOutput output) { return enum_name(kModelOutputNames, output); }

TokenPooling parse_token_pooling(const std::string& text) {
  return parse_enum(kTokenPoolingNames, text, "unknown token pooling");
}

std::string to_string(TokenPooling pooling) { return enum_name(kTokenPoolingNames, pooling); }

Precision parse_precision(const std::string& text) { return parse_enum(kPrecisionNames, text, "unknown precision"); }

std::string to_string(Precision precision) { return enum_name(kPrecisionNames, precision); }

const std::vector<std::string>& kather100k_classes() {
  static const std::vector<std::string> classes = {"BACK", "NORM", "DEB", "TUM", "ADI",
                                                   "MUC",  "MUS",  "STR", "LYM"};
  return classes;
}

std::vector<std::string> builtin_model_names() {
  std::vector<std::string> names;
  for (const auto& arch : kArchitectures) names.push_back(arch + kKatherSuffix);
  for (const auto& arch : kArchitectures) names.push_back(arch);
  names.push_back("null");
  return names;
}

std::string to_json(const ModelDescription& d) {
  return json_text({{"class_names", d.class_names},
                    {"feature_size", d.feature_size},
                    {"output", to_string(d.output)},
                    {"input_size", {d.input_width, d.input_height}},
                    {"scale", d.scale},
                    {"mean", d.mean},
                    {"std", d.std},
                    {"pooling", to_string(d.pooling)},
                    {"prefix_tokens", d.prefix_tokens}});
}

ModelDescription parse_model_description(const std::string& json, const std::string& source) {
  const Json root = parse_json(json, source);
  if (!root.is_object()) throw std::invalid_argument(source + ": not a JSON object");
  ModelDescription d;
  if (root.contains("class_names")) {
    const Json& names = root.at("class_names");
    if (!names.is_array() || !std::all_of(names.begin(), names.end(), [](const Json& v) { return v.is_string(); }))
      throw std::invalid_argument(source + ": \"class_names\" must be a list of strings");
    d.class_names = names.get<std::vector<std::string>>();
  }
  if (root.contains("feature_size")) d.feature_size = read_value<int>(root, "feature_size", source, "an integer");
  if (root.contains("output")) {
    try {
      d.output = parse_model_output(read_value<std::string>(root, "output", source, "a string"));
    } catch (const std::invalid_argument& e) {
      throw std::invalid_argument(source + ": " + e.what());
    }
  }
  read_input_size(root, d, source);
  if (root.contains("scale")) d.scale = read_value<double>(root, "scale", source, "a number");
  if (root.contains("mean")) d.mean = read_triple(root, "mean", source);
  if (root.contains("std")) d.std = read_triple(root, "std", source);
  check_std(d.std, source);
  read_token_pooling(root, d, source);
  return d;
}

void apply_model_options(ModelDescription& d, const ModelOptions& options) {
  if (!options.classes.empty()) d.class_names = options.classes;
  if (!options.output.empty()) d.output = parse_model_output(options.output);
  auto triple = [](const std::vector<double>& v, const char* what) {
    if (v.size() != 3) throw std::invalid_argument(std::string("--") + what + " needs 3 numbers (R,G,B)");
    return std::array<double, 3>{v[0], v[1], v[2]};
  };
  if (!options.pooling.empty()) d.pooling = parse_token_pooling(options.pooling);
  if (options.prefix_tokens > 0) d.prefix_tokens = options.prefix_tokens;
  if (!options.mean.empty()) d.mean = triple(options.mean, "mean");
  if (!options.std.empty()) d.std = triple(options.std, "std");
  check_std(d.std, "--std");
}

int default_batch_size(bool gpu, int input_width, int input_height) {
  if (!gpu) return 8;
  const double pixels = std::max(1.0, double(input_width) * double(input_height));
  return static_cast<int>(std::clamp(std::floor(256.0 * 224.0 * 224.0 / pixels), 1.0, 1024.0));
}

namespace model_detail {

std::optional<BuiltinSpec> find_builtin(const std::string& name) {
  for (const auto& arch : kArchitectures) {
    bool kather = name == arch + kKatherSuffix;
    if (name == arch || kather) {
      int features = (arch == "resnet18" || arch == "resnet34") ? 512 : 2048;
      return BuiltinSpec{arch, kather, features};
    }
  }
  return std::nullopt;
}

std::string find_default_weights(const std::string& name) {
  namespace fs = std::filesystem;
  std::vector<fs::path> candidates;
  if (const char* dir = std::getenv("WSI_MODEL_DIR")) candidates.push_back(fs::path(dir) / (name + ".pth"));
  if (const char* home = std::getenv("HOME")) candidates.push_back(fs::path(home) / ".tiatoolbox" / "models" / (name + ".pth"));
  for (const auto& path : candidates) {
    std::error_code ec;
    if (fs::is_regular_file(path, ec)) return path.string();
  }
  return "";
}

namespace {

class NullModel final : public Model {
 public:
  explicit NullModel(ModelDescription description) : description_(std::move(description)) {}
  const ModelDescription& description() const override { return description_; }

  BatchResult run(const uint8_t* patches, int n, bool want_probabilities, bool want_features) override {
    BatchResult result;
    const size_t classes = description_.class_names.size();
    if (want_probabilities) {
      result.probabilities.assign(size_t(n) * classes, 0.0f);
      for (int i = 0; i < n; ++i) {
        result.probabilities[size_t(i) * classes] = float(slide_);
        if (classes > 1) result.probabilities[size_t(i) * classes + 1] = float(first_row_ + i);
      }
    }
    if (want_features) {
      const size_t pixels = size_t(description_.input_width) * size_t(description_.input_height);
      result.features.resize(size_t(n) * 3);
      for (int i = 0; i < n; ++i) {
        const uint8_t* p = patches + size_t(i) * pixels * 3;
        double sum[3] = {0, 0, 0};
        for (size_t k = 0; k < pixels; ++k)
          for (int c = 0; c < 3; ++c) sum[c] += p[k * 3 + c];
        for (int c = 0; c < 3; ++c) result.features[size_t(i) * 3 + c] = float(sum[c] / (double(pixels) * 255.0));
      }
    }
    return result;
  }

  void set_tile_origin(int64_t slide, int64_t first_row) override { slide_ = slide, first_row_ = first_row; }

 private:
  ModelDescription description_;
  int64_t slide_ = 0, first_row_ = 0;
};

}  // namespace

std::unique_ptr<Model> make_null_model(const ModelOptions& options) {
  ModelDescription d;
  d.class_names = {"slide", "row"};
  d.feature_size = 3;
  apply_model_options(d, options);
  if (d.output == ModelOutput::logits) d.output = ModelOutput::probabilities;
  return std::make_unique<NullModel>(std::move(d));
}

}  // namespace model_detail
}  // namespace wsi
