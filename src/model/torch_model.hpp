// Private to src/model: the LibTorch-backed Model. torch_model.cpp loads and runs it;
// torch_tuning.cpp makes its NumericConfig by rule or by measuring, and prepares the variant.
#pragma once
#include <torch/script.h>

#include <deque>
#include <string>
#include <vector>

#include "wsi/model/model.hpp"

namespace wsi::model_detail {

// One way of running the network: its frozen module with the dtype and memory layout it was
// prepared for.
struct TorchVariant {
  torch::jit::Module module;
  at::ScalarType dtype = at::kFloat;
  bool channels_last = false;
  bool optimized = false;  // torch::jit::optimize_for_inference applied
};

// What a forward pass gives, as float32: features and/or class probabilities.
struct ForwardOutputs {
  at::Tensor features;
  at::Tensor scores;  // already probabilities
};

class TorchModel final : public Model {
 public:
  // `module` is in eval mode; it becomes the fp32 base every variant is made from.
  TorchModel(std::string name, torch::jit::Module module, ModelDescription description, bool builtin,
             const ModelOptions& options);

  const ModelDescription& description() const override { return description_; }
  bool on_gpu() const override { return !device_.is_cpu(); }
  HostBuffer host_buffer(size_t bytes) const override;
  BatchResult run(const uint8_t* patches, int n, bool want_probabilities, bool want_features) override;
  // torch_tuning.cpp
  NumericConfig rule_configuration(const ModelOptions& options) override;
  NumericConfig measured_configuration(const ModelOptions& options) override;
  void use_configuration(const NumericConfig& config) override;

 private:
  // torch_tuning.cpp
  NumericConfig machine_configuration(const ModelOptions& options) const;  // device, CPU, versions
  // The variant of that dtype, layout and optimisation: made (clone, freeze, optimise) once and
  // kept, so that the rule's check and use_configuration share it.
  const TorchVariant& variant(at::ScalarType dtype, bool channels_last, bool optimize);
  TorchVariant make_variant(at::ScalarType dtype, bool channels_last, bool optimize) const;
  // A candidate being measured: its configuration, its prepared variant, its timings.
  struct Timed {
    NumericConfig config;
    const TorchVariant* variant = nullptr;
    std::vector<double> rates;
  };
  Timed fastest(std::vector<Timed>& candidates, const uint8_t* patches, std::string& summary) const;
  // Tiles per second of `v` over batches of `batch` probe patches for kRepeatSeconds (one at least).
  double timed_rate(const TorchVariant& v, const uint8_t* patches, int batch) const;

  at::Tensor preprocess(const TorchVariant& v, const uint8_t* patches, int n) const;
  ForwardOutputs forward(const TorchVariant& v, const uint8_t* patches, int n) const;
  ForwardOutputs interpret(const std::vector<at::Tensor>& tensors) const;
  at::Tensor pool_tokens(const at::Tensor& features) const;
  void learn_feature_size(const ForwardOutputs& reference);
  std::vector<float> copy_rows(at::Tensor t, int n, int width, const char* what, const std::string& declared) const;
  std::vector<float> copy_scores(const at::Tensor& scores, int n) const;
  std::vector<float> copy_features(const at::Tensor& features, int n) const;

  std::string name_;
  torch::jit::Module base_;  // eval, on the device, fp32, not frozen
  TorchVariant chosen_;
  bool configured_ = false;            // chosen_ is set: use_configuration() ran
  std::deque<TorchVariant> variants_;  // made so far (at most the candidates of one measurement)
  ModelDescription description_;
  ForwardOutputs base_outputs_;  // the fp32 base on probe_patches(description_, 1)
  bool builtin_;
  c10::Device device_;
  at::Tensor mean_, std_;
  bool normalise_ = false;
};

// A deterministic pseudo-random batch of n patches: the same input for every candidate.
std::vector<uint8_t> probe_patches(const ModelDescription& d, int n);

// Gives every tensor attribute of `module` a storage of its own, so that Module::clone() keeps
// views into one storage apart (torch_tuning.cpp).
void give_tensors_own_storage(torch::jit::Module& module);

// Device and dtype from the options (torch_model.cpp); throw for what cannot run here.
c10::Device choose_device(const std::string& device, int local_rank);
at::ScalarType choose_dtype(Precision precision, const c10::Device& device);

}  // namespace wsi::model_detail
