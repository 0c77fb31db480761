// Private to src/model: the LibTorch-backed Model. torch_model.cpp loads and runs it;
// torch_tuning.cpp chooses how it runs (layout, optimize_for_inference, precision, batch size).
#pragma once
#include <torch/script.h>

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
  ModelConfiguration configuration() const override { return configuration_; }

 private:
  // torch_tuning.cpp: sets chosen_ and configuration_.
  void prepare(const ModelOptions& options);
  void prepare_fixed(const ModelOptions& options);
  void tune(const ModelOptions& options);
  TorchVariant make_variant(at::ScalarType dtype, bool channels_last, bool optimize) const;
  // Tiles per second of `v` on batches of `batch` probe patches; the caller has run one batch of
  // that size already (its results check), this runs one more before timing.
  double time_batches(const TorchVariant& v, const uint8_t* patches, int batch) const;

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
  ModelDescription description_;
  bool builtin_;
  c10::Device device_;
  at::Tensor mean_, std_;
  bool normalise_ = false;
  ModelConfiguration configuration_;
};

// Device and dtype from the options (torch_model.cpp); throw for what cannot run here.
c10::Device choose_device(const std::string& device, int local_rank);
at::ScalarType choose_dtype(Precision precision, const c10::Device& device);

}  // namespace wsi::model_detail
