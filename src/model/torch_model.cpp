// load_model and the LibTorch-backed Model: built-ins (state_dict into a C++-defined TorchScript
// module), TorchScript files with an optional wsi_model.json, and the demo colour model.
#include <ATen/Parallel.h>
#include <spdlog/spdlog.h>
#include <torch/cuda.h>
#include <torch/script.h>
#include <torch/version.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <sstream>
#include <stdexcept>

#include "model/model_internal.hpp"
#include "model/torch_builtin.hpp"
#include "model/torch_model.hpp"
#include "model/torch_state_dict.hpp"
#include "util/exclusive_file.hpp"
#include "util/process_clock.hpp"

namespace wsi {
namespace model_detail {

namespace {

std::string join(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

}  // namespace

// "cuda"/"auto" take the GPU of this rank's place on its node (ranks on a node split its GPUs;
// under Slurm's --gpus-per-task=1 each rank sees one, index 0); "cuda:N" names one.
c10::Device choose_device(const std::string& device, int local_rank) {
  if (device == "cpu") return c10::Device(c10::kCPU);
  const bool cuda = torch::cuda::is_available();
  const auto local_gpu = [&] {
    const auto count = static_cast<int>(torch::cuda::device_count());
    return c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(count > 0 ? std::max(local_rank, 0) % count : 0));
  };
  if (device == "auto") return cuda ? local_gpu() : c10::Device(c10::kCPU);
  if (device.rfind("cuda", 0) == 0) {
    if (!cuda)
      throw std::runtime_error("device '" + device + "' asked for, but no CUDA device is available to this LibTorch " +
                               std::string(TORCH_VERSION) + " (use --device cpu or auto)");
    return device == "cuda" ? local_gpu() : c10::Device(device);
  }
  throw std::invalid_argument("unknown device '" + device + "' (expected cpu, cuda or auto)");
}

// The dtype an explicit precision asks for; Precision::automatic is the rule's (torch_tuning.cpp):
// fp16 on a GPU, here fp32 on a CPU.
at::ScalarType choose_dtype(Precision precision, const c10::Device& device) {
  if (precision == Precision::fp16 && device.is_cpu())
    throw std::runtime_error("fp16 needs CUDA; LibTorch has no CPU fp16 convolution (use fp32 or bf16 on CPU)");
  if (precision == Precision::fp16 || (precision == Precision::automatic && !device.is_cpu())) return at::kHalf;
  if (precision == Precision::bf16) return at::kBFloat16;
  return at::kFloat;
}

TorchModel::TorchModel(std::string name, torch::jit::Module module, ModelDescription description, bool builtin,
                       const ModelOptions& options)
    : name_(std::move(name)),
      base_(std::move(module)),
      description_(std::move(description)),
      builtin_(builtin),
      device_(choose_device(options.device, options.local_rank)) {
  if (options.threads > 0) at::set_num_threads(options.threads);
  set_blas_threads(options.threads);
  const auto& d = description_;
  mean_ = torch::tensor({d.mean[0], d.mean[1], d.mean[2]}, at::kFloat).view({1, 3, 1, 1}).to(device_);
  std_ = torch::tensor({d.std[0], d.std[1], d.std[2]}, at::kFloat).view({1, 3, 1, 1}).to(device_);
  normalise_ = d.mean != std::array<double, 3>{0, 0, 0} || d.std != std::array<double, 3>{1, 1, 1};
  give_tensors_own_storage(base_);
  base_.eval();
  base_.to(device_);
  // The base as it is (fp32, not frozen) on one probe patch: the feature size of a file that does
  // not say, and what the rule's check compares optimize_for_inference with.
  base_outputs_ = forward(TorchVariant{base_, at::kFloat, false, false}, probe_patches(description_, 1).data(), 1);
  learn_feature_size(base_outputs_);
  if (options.configure) use_configuration(rule_configuration(options));
}

HostBuffer TorchModel::host_buffer(size_t bytes) const {
  if (device_.is_cpu()) return HostBuffer::plain(bytes);
  // Pinned, from LibTorch's caching host allocator; the tensor lives as long as the buffer.
  const auto pinned = at::TensorOptions().dtype(at::kByte).pinned_memory(true);
  at::Tensor memory = at::empty({static_cast<int64_t>(bytes)}, pinned);
  uint8_t* data = memory.data_ptr<uint8_t>();
  return HostBuffer(std::shared_ptr<uint8_t>(data, [memory](uint8_t*) {}), bytes);
}

BatchResult TorchModel::run(const uint8_t* patches, int n, bool want_probabilities, bool want_features) {
  BatchResult result;
  if (n <= 0) return result;
  if (!configured_) throw std::logic_error("model " + name_ + " run before use_configuration()");
  try {
    ForwardOutputs out = forward(chosen_, patches, n);
    if (want_probabilities) result.probabilities = copy_scores(out.scores, n);
    if (want_features) result.features = copy_features(out.features, n);
  } catch (const c10::Error& e) {
    throw std::runtime_error("model " + name_ + " failed: " + e.what_without_backtrace());
  }
  return result;
}

at::Tensor TorchModel::preprocess(const TorchVariant& v, const uint8_t* patches, int n) const {
  const auto& d = description_;
  auto input = torch::from_blob(const_cast<uint8_t*>(patches), {n, d.input_height, d.input_width, 3}, at::kByte);
  // From pinned memory (host_buffer) the upload is asynchronous and needs no staging copy;
  // run() waits for the results, so the buffer is free again when it returns.
  if (!device_.is_cpu()) input = (input.is_pinned() ? input : input.pin_memory()).to(device_, /*non_blocking=*/true);
  auto x = input.permute({0, 3, 1, 2}).to(at::kFloat).mul_(d.scale);
  if (normalise_) x = x.sub_(mean_).div_(std_);
  // permute() of NHWC data is channels-last already.
  return x.contiguous(v.channels_last ? at::MemoryFormat::ChannelsLast : at::MemoryFormat::Contiguous).to(v.dtype);
}

ForwardOutputs TorchModel::forward(const TorchVariant& v, const uint8_t* patches, int n) const {
  c10::InferenceMode guard;
  torch::jit::IValue out = const_cast<torch::jit::Module&>(v.module).forward({preprocess(v, patches, n)});
  std::vector<at::Tensor> tensors;
  if (out.isTensor()) {
    tensors.push_back(out.toTensor());
  } else if (out.isTuple()) {
    for (const auto& item : out.toTupleRef().elements())
      if (item.isTensor()) tensors.push_back(item.toTensor());
  } else if (out.isTensorList()) {
    for (const auto& t : out.toTensorVector()) tensors.push_back(t);
  }
  if (tensors.empty()) throw std::runtime_error("model " + name_ + " returned neither a tensor nor a tuple of tensors");
  return interpret(tensors);
}

// How a forward result is read: built-ins give (features, logits); a file gives a tensor (its
// description's output kind) or a tuple (features, class scores).
ForwardOutputs TorchModel::interpret(const std::vector<at::Tensor>& tensors) const {
  ForwardOutputs out;
  auto as_float = [](const at::Tensor& t) { return t.to(at::kFloat); };
  if (builtin_) {
    out.features = as_float(tensors[0]);
    if (!description_.class_names.empty()) out.scores = torch::softmax(as_float(tensors.at(1)), 1);
    return out;
  }
  at::Tensor scores;
  if (tensors.size() >= 2) {
    out.features = pool_tokens(as_float(tensors[0]));
    scores = as_float(tensors[1]);
  } else if (description_.output == ModelOutput::features) {
    out.features = pool_tokens(as_float(tensors[0]));
  } else {
    scores = as_float(tensors[0]);
  }
  if (scores.defined() && description_.output != ModelOutput::features)
    out.scores = description_.output == ModelOutput::logits ? torch::softmax(scores.reshape({scores.size(0), -1}), 1)
                                                            : scores;
  return out;
}

// Tokens [B, T, D] to one vector per patch, as the description says (ModelDescription::pooling).
at::Tensor TorchModel::pool_tokens(const at::Tensor& features) const {
  if (features.dim() != 3) return features;
  const int64_t tokens = features.size(1), prefix = description_.prefix_tokens;
  if (description_.pooling != TokenPooling::cls && tokens <= prefix)
    throw std::runtime_error("model " + name_ + " gives " + std::to_string(tokens) + " tokens per patch, and " +
                             std::to_string(prefix) + " prefix tokens (wsi_model.json \"prefix_tokens\") leave " +
                             "no patch tokens to pool");
  const at::Tensor cls = features.select(1, 0);
  if (description_.pooling == TokenPooling::cls) return cls;
  const at::Tensor mean = features.narrow(1, prefix, tokens - prefix).mean(1);
  if (description_.pooling == TokenPooling::mean) return mean;
  return at::cat({cls, mean}, 1);
}

// A file that does not declare its feature size has the one its first output shows.
void TorchModel::learn_feature_size(const ForwardOutputs& reference) {
  if (description_.feature_size == 0 && reference.features.defined())
    description_.feature_size = int(reference.features.reshape({reference.features.size(0), -1}).size(1));
}

std::vector<float> TorchModel::copy_rows(at::Tensor t, int n, int width, const char* what,
                                         const std::string& declared) const {
  t = t.reshape({t.size(0), -1}).to(at::kCPU).contiguous();
  if (t.size(0) != n)
    throw std::runtime_error("model " + name_ + " returned " + std::to_string(t.size(0)) + " rows of " + what +
                             " for " + std::to_string(n) + " patches");
  if (t.size(1) != width)
    throw std::runtime_error("model " + name_ + " gives " + std::to_string(t.size(1)) + " " + what + " per patch but " +
                             declared);
  const float* p = t.data_ptr<float>();
  return std::vector<float>(p, p + t.numel());
}

std::vector<float> TorchModel::copy_scores(const at::Tensor& scores, int n) const {
  const auto& names = description_.class_names;
  if (names.empty()) throw std::runtime_error("model " + name_ + " has no class names (give --classes)");
  if (!scores.defined()) throw std::runtime_error("model " + name_ + " gives no class scores (its output is features)");
  return copy_rows(scores, n, int(names.size()), "class scores",
                   "declares " + std::to_string(names.size()) + " classes (" + join(names) + ")");
}

std::vector<float> TorchModel::copy_features(const at::Tensor& features, int n) const {
  if (!features.defined()) throw std::runtime_error("model " + name_ + " gives no features (its output is class scores)");
  return copy_rows(features, n, description_.feature_size,
                   "features", "declares a feature size of " + std::to_string(description_.feature_size));
}

namespace {

std::unique_ptr<Model> load_builtin(const BuiltinSpec& spec, const ModelOptions& options) {
  ModelDescription d;
  d.feature_size = spec.feature_size;
  d.output = ModelOutput::logits;
  if (spec.kather100k) d.class_names = kather100k_classes();
  apply_model_options(d, options);
  if (d.output != ModelOutput::features) d.output = ModelOutput::logits;  // built-ins: softmax of logits
  if (d.class_names.empty() && d.output != ModelOutput::features)
    throw std::runtime_error("built-in model " + options.model +
                             " needs --classes (its classifier's class names, in order) unless --model-output features");
  std::string weights = options.weights.empty() ? model_detail::find_default_weights(options.model) : options.weights;
  if (weights.empty())
    throw std::runtime_error("built-in model " + options.model + " needs --weights FILE.pth (a state_dict, e.g. " +
                             "TIAToolbox's " + options.model + ".pth; also looked in $WSI_MODEL_DIR and ~/.tiatoolbox/models)");
  if (!std::filesystem::exists(weights)) throw std::runtime_error("weights file " + weights + " not found");
  auto state_dict = model_detail::load_state_dict(weights);
  auto net = model_detail::build_builtin_network(spec.arch, state_dict, int(d.class_names.size()), "weights " + weights);
  spdlog::debug("model {}: {} tensors from {}", options.model, state_dict.size(), weights);
  return std::make_unique<TorchModel>(options.model, std::move(net.module), std::move(d), true, options);
}

torch::jit::Module load_script(const std::string& path, std::string& description_json) {
  torch::jit::ExtraFilesMap extra{{"wsi_model.json", ""}};
  try {
    auto module = torch::jit::load(path, c10::Device(c10::kCPU), extra);
    description_json = extra["wsi_model.json"];
    return module;
  } catch (const c10::Error& e) {
    throw std::runtime_error("cannot load TorchScript model " + path + ": " + e.what_without_backtrace() +
                             "\n(TorchScript written by a PyTorch newer than this LibTorch " + TORCH_VERSION +
                             " may not load: export it with torch " + TORCH_VERSION +
                             "; a state_dict .pth goes with --model <architecture> --weights FILE)");
  }
}

std::unique_ptr<Model> load_file_model(const ModelOptions& options) {
  const std::string& path = options.model;
  if (!std::filesystem::exists(path))
    throw std::runtime_error("model '" + path + "' is neither a built-in (" + join(builtin_model_names()) +
                             ") nor an existing TorchScript file");
  std::string json;
  auto module = load_script(path, json);
  ModelDescription d;
  if (!json.empty()) {
    try {
      d = parse_model_description(json, path + ":wsi_model.json");
    } catch (const std::invalid_argument& e) {
      throw std::runtime_error(e.what());
    }
  }
  apply_model_options(d, options);
  if (d.class_names.empty() && d.output != ModelOutput::features)
    throw std::runtime_error("model " + path + " names no classes: give --classes, or --model-output features, " +
                             "or embed wsi_model.json with class_names");
  return std::make_unique<TorchModel>(path, std::move(module), std::move(d), false, options);
}

}  // namespace
}  // namespace model_detail

std::string libtorch_version() { return TORCH_VERSION; }

double measure_matmul_gflops(int m, int k, int n, double seconds) {
  c10::InferenceMode guard;
  const at::Tensor a = torch::rand({m, k}), b = torch::rand({k, n});
  at::matmul(a, b);  // warm-up
  int runs = 0;
  const auto start = std::chrono::steady_clock::now();
  double elapsed = 0;
  while (runs < 2 || elapsed < seconds) {
    at::matmul(a, b);
    ++runs;
    elapsed = seconds_since(start);
  }
  return 2.0 * m * k * n * runs / elapsed / 1e9;
}

std::unique_ptr<Model> load_model(const ModelOptions& options) {
  try {
    if (options.model == "null") return model_detail::make_null_model(options);
    model_detail::choose_dtype(options.precision, model_detail::choose_device(options.device, options.local_rank));  // fail fast, before any loading
    if (auto spec = model_detail::find_builtin(options.model)) return model_detail::load_builtin(*spec, options);
    return model_detail::load_file_model(options);
  } catch (const c10::Error& e) {
    throw std::runtime_error("cannot load model " + options.model + ": " + e.what_without_backtrace());
  } catch (const std::invalid_argument& e) {
    throw std::runtime_error("model " + options.model + ": " + e.what());
  }
}

void write_demo_model(const std::string& path, const std::vector<DemoClass>& classes) {
  if (classes.empty()) throw std::invalid_argument("write_demo_model: no classes");
  auto prototypes = torch::empty({int64_t(classes.size()), 3}, at::kFloat);
  ModelDescription d;
  for (size_t i = 0; i < classes.size(); ++i) {
    for (int c = 0; c < 3; ++c) prototypes[int64_t(i)][c] = float(classes[i].rgb[size_t(c)]) / 255.0f;
    d.class_names.push_back(classes[i].name);
  }
  d.output = ModelOutput::logits;
  torch::jit::Module module("WsiDemoColourModel");
  module.register_attribute("training", c10::BoolType::get(), false);
  module.register_buffer("prototypes", prototypes);
  // The mean colour of the tissue pixels only (weights fade out towards the white background),
  // so a patch on a region's edge still takes the region's class.
  module.define(R"(
def forward(self, x):
    w = torch.clamp((0.88 - torch.mean(x, [1], True)) * 10.0, 0.0, 1.0)
    m = torch.sum(x * w, [2, 3]) / (torch.sum(w, [2, 3]) + 1e-6)
    d = torch.sum(torch.pow(torch.unsqueeze(m, 1) - torch.unsqueeze(self.prototypes, 0), 2), [2])
    return d * -50.0
)");
  torch::jit::ExtraFilesMap extra{{"wsi_model.json", to_json(d)}};
  std::ostringstream bytes;
  try {
    module.save(bytes, extra);
  } catch (const c10::Error& e) {
    throw std::runtime_error("cannot write demo model " + path + ": " + e.what_without_backtrace());
  }
  write_file_atomically(path, bytes.str());
}

}  // namespace wsi
