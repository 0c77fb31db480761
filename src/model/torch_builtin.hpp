// Private to src/model: TIAToolbox vanilla.CNNModel backbones as TorchScript modules built in C++.
#pragma once
#include <torch/script.h>

#include <string>

#include "model/torch_state_dict.hpp"

namespace wsi::model_detail {

struct BuiltinNetwork {
  torch::jit::Module module;  // forward(x: NCHW float) -> (features [n, D], logits [n, C])
  int feature_size = 0;
  int num_classes = 0;        // 0: no classifier (forward returns (features, features))
};

// Builds `arch` (resnet18 ... wide_resnet50_2) with the state_dict's tensors as its parameters.
// num_classes > 0: the classifier must have that many outputs; 0: take it from the weights,
// and allow a state_dict with no classifier at all. Keys and shapes must match exactly
// (num_batches_tracked ignored); otherwise throws std::runtime_error naming `source`
// and the first missing key, unexpected key, or shape mismatch. The module is in eval mode,
// not frozen.
BuiltinNetwork build_builtin_network(const std::string& arch, const StateDict& state_dict, int num_classes,
                                     const std::string& source);

}  // namespace wsi::model_detail
