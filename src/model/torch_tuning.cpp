// How the LibTorch model computes: its NumericConfig by rule (nothing timed) or by measuring
// candidates (--autotune), and the prepared variant that use_configuration() runs. The rule follows
// what measured fastest on the CPUs here (docs/numerics.md): fp32 in NCHW with
// optimize_for_inference, bf16 in channels-last, channels-last on a GPU, batches of 8 on a CPU.
#include <spdlog/spdlog.h>
#include <torch/script.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <string>

#include "model/torch_model.hpp"
#include "util/process_clock.hpp"

namespace wsi::model_detail {
namespace {

using Clock = std::chrono::steady_clock;

constexpr int kProbeBatch = 8;               // candidates' results are compared on this many patches
constexpr int kCandidateBatches[] = {8, 16, 32};  // --autotune without --batch-size: 8 first (the rule's)
constexpr int kWarmupBatches = 2;            // the profiling executor optimises on a shape's 2nd run
constexpr int kRepeats = 5;                  // timings per candidate, interleaved; the median counts
constexpr double kRepeatSeconds = 0.1;       // at least this long (and one batch) per timing
constexpr double kMargin = 1.05;             // a later candidate must be 5 % faster to win
constexpr double kBudgetSeconds = 120.0;     // past this, batch sizes are not measured
// max |candidate - fp32 reference| / max(1, max |reference|), features and probabilities.
constexpr double kFp32Tolerance = 1e-4;
constexpr double kBf16Tolerance = 0.05;

// The first `rows` rows of a and b agree within `tolerance` (both absent also agrees).
bool agrees(const at::Tensor& a, const at::Tensor& b, int rows, double tolerance) {
  if (a.defined() != b.defined()) return false;
  if (!a.defined()) return true;
  const at::Tensor x = a.reshape({a.size(0), -1}).narrow(0, 0, rows);
  const at::Tensor y = b.reshape({b.size(0), -1}).narrow(0, 0, rows);
  if (x.sizes() != y.sizes()) return false;
  const double scale = std::max(1.0, y.abs().max().item<double>());
  const double diff = (x - y).abs().max().item<double>();
  return std::isfinite(diff) && diff <= tolerance * scale;
}

bool agrees(const ForwardOutputs& a, const ForwardOutputs& reference, int rows, at::ScalarType dtype) {
  const double tolerance = dtype == at::kFloat ? kFp32Tolerance : kBf16Tolerance;
  return agrees(a.features, reference.features, rows, tolerance) &&
         agrees(a.scores, reference.scores, rows, tolerance);
}

at::ScalarType dtype_of(Precision precision) {
  return precision == Precision::bf16 ? at::kBFloat16 : precision == Precision::fp16 ? at::kHalf : at::kFloat;
}

const CpuFeatures& this_cpu() {
  static const CpuFeatures cpu = cpu_features();
  return cpu;
}

// The precisions a configuration may take: the one asked for, or with auto the rule's first.
std::vector<Precision> candidate_precisions(Precision asked, bool gpu) {
  if (asked != Precision::automatic) return {asked};
  if (gpu) return {Precision::fp16, Precision::fp32};
  if (cpu_has_native_bf16(this_cpu())) return {Precision::bf16, Precision::fp32};
  return {Precision::fp32};
}

// The rule's layout: channels-last where the convolution kernels prefer it (cuDNN, oneDNN bf16).
bool rule_channels_last(int asked, bool gpu, Precision precision) {
  if (asked >= 0) return asked > 0;
  return gpu || precision == Precision::bf16;
}

}  // namespace

std::vector<uint8_t> probe_patches(const ModelDescription& d, int n) {
  std::vector<uint8_t> data(size_t(n) * size_t(d.input_width) * size_t(d.input_height) * 3);
  uint32_t state = 12345u;
  for (auto& v : data) {
    state = state * 1664525u + 1013904223u;
    v = uint8_t(state >> 24);
  }
  return data;
}

// Module::clone() deep-copies tensors keyed by their storage: two tensors that are views into one
// storage (a state_dict saved from a flat buffer) would come back as one. Each tensor gets a
// storage of its own first; a tensor shared by two attributes (tied weights) stays shared.
void give_tensors_own_storage(torch::jit::Module& module) {
  for (const auto& attribute : module.named_attributes(/*recurse=*/true)) {
    if (!attribute.value.isTensor()) continue;
    at::Tensor t = attribute.value.toTensor();
    if (t.defined() && (t.storage_offset() != 0 || t.storage().nbytes() != static_cast<size_t>(t.numel()) * t.element_size()))
      t.set_data(t.clone(at::MemoryFormat::Contiguous));
  }
}

NumericConfig TorchModel::machine_configuration(const ModelOptions& options) const {
  NumericConfig c;
  c.device = device_.is_cpu() ? "cpu" : "cuda";
  // A GPU computes from the uploaded uint8 patches: the host CPU does not enter the numbers.
  if (device_.is_cpu()) c.cpu_isa = cpu_isa_class(this_cpu());
  c.cpu_model = this_cpu().model;
  c.libtorch = libtorch_version();
  c.deterministic = options.deterministic;
  c.batch_size = options.batch_size > 0
                     ? options.batch_size
                     : default_batch_size(!device_.is_cpu(), description_.input_width, description_.input_height);
  return c;
}

NumericConfig TorchModel::rule_configuration(const ModelOptions& options) {
  NumericConfig c = machine_configuration(options);
  c.decided_by = "rule";
  c.precision = candidate_precisions(options.precision, !device_.is_cpu()).front();
  c.channels_last = rule_channels_last(options.channels_last, !device_.is_cpu(), c.precision);
  if (!device_.is_cpu() || c.precision != Precision::fp32) return c;
  // optimize_for_inference where it keeps fp32's results on a probe patch: a check, not a timing.
  try {
    const std::vector<uint8_t> patch = probe_patches(description_, 1);
    c.optimized =
        agrees(forward(variant(at::kFloat, c.channels_last, true), patch.data(), 1), base_outputs_, 1, at::kFloat);
  } catch (const std::exception& e) {
    spdlog::debug("model {}: optimize_for_inference failed ({}); not used", name_, e.what());
  }
  return c;
}

// long: the measurement in the order it runs: candidates at the first batch size, then batch sizes.
NumericConfig TorchModel::measured_configuration(const ModelOptions& options) {
  const auto start = Clock::now();
  const NumericConfig rule = rule_configuration(options);
  const std::vector<int> batches =
      options.batch_size > 0 || !device_.is_cpu()
          ? std::vector<int>{rule.batch_size}
          : std::vector<int>(std::begin(kCandidateBatches), std::end(kCandidateBatches));
  const std::vector<uint8_t> patches = probe_patches(description_, *std::max_element(batches.begin(), batches.end()));
  const ForwardOutputs expected = forward(variant(at::kFloat, false, false), patches.data(), kProbeBatch);
  // The rule's choice first: the others are measured against it and must beat it by the margin.
  std::vector<NumericConfig> configs = {rule};
  for (const Precision precision : candidate_precisions(options.precision, !device_.is_cpu()))
    for (const bool channels_last : {false, true})
      for (const bool optimize : {false, true}) {
        if (options.channels_last >= 0 && channels_last != (options.channels_last > 0)) continue;
        if (optimize && (!device_.is_cpu() || precision != Precision::fp32)) continue;
        NumericConfig c = rule;
        c.precision = precision, c.channels_last = channels_last, c.optimized = optimize;
        if (c.precision != rule.precision || c.channels_last != rule.channels_last || c.optimized != rule.optimized)
          configs.push_back(c);
      }
  std::string summary;
  std::vector<Timed> candidates;
  for (NumericConfig& c : configs) {
    c.batch_size = batches.front();
    const at::ScalarType dtype = dtype_of(c.precision);
    try {
      const TorchVariant& v = variant(dtype, c.channels_last, c.optimized);
      if (agrees(forward(v, patches.data(), kProbeBatch), expected, kProbeBatch, dtype))
        candidates.push_back({c, &v, {}});
      else
        summary += describe(c) + " differs; ";
    } catch (const std::exception& e) {
      spdlog::debug("model {}: {} fails ({})", name_, describe(c), e.what());
      summary += describe(c) + " fails; ";
    }
  }
  if (candidates.empty()) throw std::runtime_error("model " + name_ + ": no candidate ran (" + summary + ")");
  Timed best = fastest(candidates, patches.data(), summary);
  if (batches.size() > 1 && seconds_since(start) < kBudgetSeconds) {
    std::vector<Timed> sizes;
    for (const int batch : batches) {
      Timed t{best.config, best.variant, {}};
      t.config.batch_size = batch;
      sizes.push_back(t);
    }
    best = fastest(sizes, patches.data(), summary);
  }
  best.config.decided_by = "measured";
  best.config.measurement = summary + "tiles/s, median of " + std::to_string(kRepeats) + " interleaved timings";
  spdlog::info("model {}: measured {} in {:.1f} s: {}", name_, describe(best.config), seconds_since(start),
               best.config.measurement);
  return best.config;
}

// Rounds of one timing per candidate, so that a change in the machine's load meets every
// candidate alike; each candidate's rate is the median of its timings. The first candidate wins
// unless a later one is faster by the margin.
TorchModel::Timed TorchModel::fastest(std::vector<Timed>& candidates, const uint8_t* patches,
                                      std::string& summary) const {
  for (Timed& c : candidates)
    for (int i = 0; i < kWarmupBatches; ++i) forward(*c.variant, patches, c.config.batch_size);
  for (int round = 0; round < kRepeats; ++round)
    for (Timed& c : candidates) c.rates.push_back(timed_rate(*c.variant, patches, c.config.batch_size));
  const Timed* best = nullptr;
  for (Timed& c : candidates) {
    std::nth_element(c.rates.begin(), c.rates.begin() + kRepeats / 2, c.rates.end());
    c.config.measured_tiles_per_second = c.rates[kRepeats / 2];
    summary += to_string(c.config.precision) + (c.config.channels_last ? " channels-last" : " NCHW") +
               (c.config.optimized ? " optimized" : "") + " batch " + std::to_string(c.config.batch_size) + " " +
               std::to_string(std::lround(c.config.measured_tiles_per_second)) + "; ";
    if (!best || c.config.measured_tiles_per_second > best->config.measured_tiles_per_second * kMargin) best = &c;
  }
  return *best;
}

void TorchModel::use_configuration(const NumericConfig& config) {
  const std::string here = device_.is_cpu() ? "cpu" : "cuda";
  if (config.device != here)
    throw std::invalid_argument("the job's numeric configuration runs on " + config.device + ", this rank on " + here);
  const std::string isa = device_.is_cpu() ? cpu_isa_class(this_cpu()) : "";
  if (!config.cpu_isa.empty() && config.cpu_isa != isa)
    throw std::invalid_argument("the job's numeric configuration was decided for CPU instruction set " +
                                config.cpu_isa + " and this CPU (" + this_cpu().model + ") has " + isa +
                                ": oneDNN would pick other kernels and the results would differ in the last bits "
                                "(run the job on nodes of one CPU type, or start a new file with --overwrite)");
  if (device_.is_cpu() && config.precision == Precision::fp16)
    throw std::invalid_argument("fp16 needs CUDA; LibTorch has no CPU fp16 convolution");
  chosen_ = variant(dtype_of(config.precision), config.channels_last, config.optimized);
  configured_ = true;
  variants_.clear();
  if (!device_.is_cpu()) {
    // cuDNN times its algorithms per shape only when the user asked for measuring: its choice is
    // timing, and it is not recorded.
    at::globalContext().setBenchmarkCuDNN(config.decided_by != "rule");
    at::globalContext().setDeterministicCuDNN(config.deterministic);
    at::globalContext().setDeterministicAlgorithms(config.deterministic, /*warn_only=*/true);
  }
  configuration_ = config;
}

const TorchVariant& TorchModel::variant(at::ScalarType dtype, bool channels_last, bool optimize) {
  for (const TorchVariant& v : variants_)
    if (v.dtype == dtype && v.channels_last == channels_last && v.optimized == optimize) return v;
  if (configured_ && chosen_.dtype == dtype && chosen_.channels_last == channels_last && chosen_.optimized == optimize)
    return chosen_;
  variants_.push_back(make_variant(dtype, channels_last, optimize));
  return variants_.back();
}

TorchVariant TorchModel::make_variant(at::ScalarType dtype, bool channels_last, bool optimize) const {
  TorchVariant v;
  v.dtype = dtype;
  v.channels_last = channels_last;
  torch::jit::Module module = base_.clone();  // a deep copy: the base stays fp32 and NCHW
  if (dtype != at::kFloat) module.to(dtype);
  if (channels_last)
    for (auto p : module.parameters())
      if (p.dim() == 4) p.set_data(p.contiguous(at::MemoryFormat::ChannelsLast));
  try {
    module = torch::jit::freeze(module);
  } catch (const std::exception& e) {
    spdlog::debug("model {}: not frozen ({})", name_, e.what());
  }
  if (optimize) {
    module = torch::jit::optimize_for_inference(module);
    v.optimized = true;
  }
  v.module = module;
  return v;
}

double TorchModel::timed_rate(const TorchVariant& v, const uint8_t* patches, int batch) const {
  int runs = 0;
  const auto start = Clock::now();
  while (runs < 1 || seconds_since(start) < kRepeatSeconds) {
    const ForwardOutputs out = forward(v, patches, batch);
    if (!device_.is_cpu()) (out.features.defined() ? out.features : out.scores).cpu();  // waits for the GPU
    ++runs;
  }
  return double(runs) * batch / seconds_since(start);
}

}  // namespace wsi::model_detail
