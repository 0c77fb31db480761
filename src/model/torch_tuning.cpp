// How the LibTorch model runs. On a GPU: as the options say (channels-last unless off). On a CPU
// the choices left to auto are measured at load on probe batches (ModelConfiguration in
// wsi/model/model.hpp): layout x optimize_for_inference x precision at batches of 8, then the
// batch size for the fastest of those. What is fastest differs between CPUs (AVX2 or AVX-512,
// with or without AMX) and models, so it is timed on the rank's own CPU rather than assumed.
#include <spdlog/spdlog.h>
#include <torch/script.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <limits>
#include <string>

#include "model/torch_model.hpp"

namespace wsi::model_detail {
namespace {

using Clock = std::chrono::steady_clock;

constexpr int kProbeBatch = 8;             // layouts and precisions are compared at this batch
constexpr int kOtherBatches[] = {4, 16};   // then these for the fastest (32+ never won on a CPU here)
constexpr int kProbePatches = 16;          // the largest batch tried
constexpr double kTimedSeconds = 0.15;     // per candidate, after its warm-up batches
constexpr double kTooSlowToProbe = 1.0;    // seconds for one probe batch: keep the defaults
constexpr double kBudgetSeconds = 12.0;    // no new candidate is started after this
constexpr double kBatchMargin = 1.03;      // another batch size must be 3 % faster to be chosen
// max |candidate - fp32 reference| / max(1, max |reference|), features and probabilities.
constexpr double kFp32Tolerance = 1e-4;
constexpr double kBf16Tolerance = 0.05;

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

// A deterministic pseudo-random batch: the same input for every candidate.
std::vector<uint8_t> probe_patches(const ModelDescription& d, int n) {
  std::vector<uint8_t> data(size_t(n) * size_t(d.input_width) * size_t(d.input_height) * 3);
  uint32_t state = 12345u;
  for (auto& v : data) {
    state = state * 1664525u + 1013904223u;
    v = uint8_t(state >> 24);
  }
  return data;
}

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

bool agrees(const ForwardOutputs& a, const ForwardOutputs& reference, int rows, double tolerance) {
  return agrees(a.features, reference.features, rows, tolerance) && agrees(a.scores, reference.scores, rows, tolerance);
}

// AMX or AVX-512-BF16: where oneDNN computes bf16 natively (elsewhere it is emulated and slow).
bool cpu_has_native_bf16() {
  std::ifstream cpuinfo("/proc/cpuinfo");
  std::string line;
  while (std::getline(cpuinfo, line))
    if (line.rfind("flags", 0) == 0)
      return line.find(" amx_bf16") != std::string::npos || line.find(" avx512_bf16") != std::string::npos;
  return false;
}

Precision precision_of(at::ScalarType dtype) {
  return dtype == at::kBFloat16 ? Precision::bf16 : dtype == at::kHalf ? Precision::fp16 : Precision::fp32;
}

std::string describe(const TorchVariant& v) {
  return to_string(precision_of(v.dtype)) + (v.channels_last ? " channels-last" : " NCHW") +
         (v.optimized ? " optimized" : " frozen");
}

// The dtypes and layouts a CPU probe tries.
std::vector<at::ScalarType> candidate_dtypes(Precision precision) {
  if (precision != Precision::automatic) return {choose_dtype(precision, c10::Device(c10::kCPU))};
  if (cpu_has_native_bf16()) return {at::kFloat, at::kBFloat16};
  return {at::kFloat};
}

std::vector<bool> candidate_layouts(int channels_last) {
  if (channels_last < 0) return {false, true};
  return {channels_last > 0};
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

struct Chosen {
  TorchVariant variant;
  int batch = kProbeBatch;
  double rate = 0;
};

}  // namespace

void TorchModel::prepare(const ModelOptions& options) {
  give_tensors_own_storage(base_);
  // Nothing left to auto: the same configuration on every rank and in every run, so that
  // separate runs give bit-identical results.
  const bool left_to_auto =
      options.channels_last < 0 || options.batch_size == 0 || options.precision == Precision::automatic;
  if (device_.is_cpu() && options.probe && left_to_auto)
    tune(options);
  else
    prepare_fixed(options);
  configuration_.channels_last = chosen_.channels_last;
  configuration_.optimized = chosen_.optimized;
  configuration_.precision = precision_of(chosen_.dtype);
}

// As the options say; on a CPU in fp32 NCHW also optimize_for_inference where one probe patch
// gives the same results (1e-4): a fixed rule, not a timing.
void TorchModel::prepare_fixed(const ModelOptions& options) {
  const at::ScalarType dtype = choose_dtype(options.precision, device_);
  const bool channels_last = options.channels_last > 0 || (options.channels_last < 0 && !device_.is_cpu());
  chosen_ = make_variant(dtype, channels_last, false);
  const std::vector<uint8_t> patch = probe_patches(description_, 1);
  const ForwardOutputs expected = forward(chosen_, patch.data(), 1);
  learn_feature_size(expected);
  if (!device_.is_cpu() || dtype != at::kFloat || channels_last || !options.probe) return;
  try {
    TorchVariant optimized = make_variant(dtype, false, true);
    if (agrees(forward(optimized, patch.data(), 1), expected, 1, kFp32Tolerance)) chosen_ = optimized;
  } catch (const std::exception& e) {
    spdlog::debug("model {}: optimize_for_inference failed ({}); not used", name_, e.what());
  }
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

double TorchModel::time_batches(const TorchVariant& v, const uint8_t* patches, int batch) const {
  // The profiling executor profiles a shape's first run and optimises on its second.
  forward(v, patches, batch);
  int runs = 0;
  const auto start = Clock::now();
  while (runs < 2 || seconds_since(start) < kTimedSeconds) forward(v, patches, batch), ++runs;
  return double(runs) * batch / seconds_since(start);
}

// long: one probe, in the order it runs: reference, candidates, batch sizes, and the record.
void TorchModel::tune(const ModelOptions& options) {
  const auto start = Clock::now();
  // Layouts are compared at the job's batch size when it gives one.
  const int probe_batch = options.batch_size > 0 ? options.batch_size : kProbeBatch;
  const std::vector<uint8_t> patches = probe_patches(description_, std::max(probe_batch, kProbePatches));
  const TorchVariant reference = make_variant(at::kFloat, false, false);
  const ForwardOutputs expected = forward(reference, patches.data(), probe_batch);
  learn_feature_size(expected);
  if (const double first = seconds_since(start); first > kTooSlowToProbe) {
    spdlog::info("model {}: one batch of {} takes {:.1f} s; not probed, running as the options say", name_,
                 probe_batch, first);
    return prepare_fixed(options);
  }
  Chosen best;
  std::string summary;
  for (const at::ScalarType dtype : candidate_dtypes(options.precision))
    for (const bool channels_last : candidate_layouts(options.channels_last))
      for (const bool optimize : {false, true}) {
        if (seconds_since(start) > kBudgetSeconds) break;
        TorchVariant v;
        try {
          const bool plain = dtype == at::kFloat && !channels_last && !optimize;
          v = plain ? reference : make_variant(dtype, channels_last, optimize);
          const double tolerance = dtype == at::kFloat ? kFp32Tolerance : kBf16Tolerance;
          if (!agrees(forward(v, patches.data(), probe_batch), expected, probe_batch, tolerance)) {
            summary += describe(v) + " differs; ";
            continue;
          }
        } catch (const std::exception& e) {
          spdlog::debug("model {}: {} fails ({})", name_, describe(v), e.what());
          summary += describe(v) + " fails; ";
          continue;
        }
        const double rate = time_batches(v, patches.data(), probe_batch);
        summary += describe(v) + " " + std::to_string(int(std::lround(rate))) + "; ";
        if (rate > best.rate) best = {v, probe_batch, rate};
      }
  if (best.rate == 0) {
    spdlog::warn("model {}: no probed configuration gave the reference results ({}); running as the options say",
                 name_, summary);
    return prepare_fixed(options);
  }
  if (options.batch_size == 0)
    for (const int batch : kOtherBatches) {
      if (seconds_since(start) > kBudgetSeconds) break;
      const double tolerance = best.variant.dtype == at::kFloat ? kFp32Tolerance : kBf16Tolerance;
      const ForwardOutputs out = forward(best.variant, patches.data(), batch);
      if (!agrees(out, expected, std::min(batch, kProbeBatch), tolerance)) continue;
      const double rate = time_batches(best.variant, patches.data(), batch);
      summary += "batch " + std::to_string(batch) + " " + std::to_string(int(std::lround(rate))) + "; ";
      if (rate > best.rate * kBatchMargin) best.batch = batch, best.rate = rate;
    }
  chosen_ = best.variant;
  configuration_.batch_size = options.batch_size == 0 ? best.batch : 0;
  configuration_.probe_tiles_per_second = best.rate;
  configuration_.probe_summary = summary + "tiles/s at batch " + std::to_string(probe_batch) + " unless said";
  spdlog::info("model {}: {}{}: {:.1f} tiles/s model-only (probed in {:.1f} s: {})", name_, describe(chosen_),
               configuration_.batch_size ? ", batch " + std::to_string(best.batch) : "", best.rate,
               seconds_since(start), configuration_.probe_summary);
}

}  // namespace wsi::model_detail
