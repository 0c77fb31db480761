// Private to src/model: the built-in model registry and the torch-free null model.
#pragma once
#include <memory>
#include <optional>
#include <string>

#include "wsi/model/model.hpp"

namespace wsi::model_detail {

// A built-in name split into its torchvision architecture and whether it is a Kather-100K model.
struct BuiltinSpec {
  std::string arch;  // resnet18, resnet34, resnet50, resnet101, resnext50_32x4d, wide_resnet50_2
  bool kather100k = false;
  int feature_size = 0;  // 512 or 2048
};
std::optional<BuiltinSpec> find_builtin(const std::string& name);

// "null": no network. Probabilities are uniform over its classes (--classes, default one class
// "tissue"); features are the per-channel mean colour / 255 (3 values). For I/O benchmarks.
std::unique_ptr<Model> make_null_model(const ModelOptions& options);

// Where a built-in's weights are looked for when --weights is not given:
// $WSI_MODEL_DIR/<name>.pth, then $HOME/.tiatoolbox/models/<name>.pth. "" when none exists.
std::string find_default_weights(const std::string& name);

}  // namespace wsi::model_detail
