// TIAToolbox vanilla.CNNModel over torchvision 0.14 ResNets, written as TorchScript source with
// functional calls, so that freeze / optimize_for_inference apply. Layout of the state_dict:
// feat_extract.{0 conv1, 1 bn1, 4..7 layer1..4}.*, classifier.{weight,bias}.
#include "model/torch_builtin.hpp"

#include <map>
#include <sstream>
#include <stdexcept>
#include <unordered_map>
#include <unordered_set>

namespace wsi::model_detail {
namespace {

struct Arch {
  bool bottleneck;
  std::array<int, 4> blocks;
  int groups;
  int width_per_group;
};

const std::map<std::string, Arch>& architectures() {
  static const std::map<std::string, Arch> table = {
      {"resnet18", {false, {2, 2, 2, 2}, 1, 64}},      {"resnet34", {false, {3, 4, 6, 3}, 1, 64}},
      {"resnet50", {true, {3, 4, 6, 3}, 1, 64}},       {"resnet101", {true, {3, 4, 23, 3}, 1, 64}},
      {"resnext50_32x4d", {true, {3, 4, 6, 3}, 32, 4}}, {"wide_resnet50_2", {true, {3, 4, 6, 3}, 1, 128}}};
  return table;
}

std::string attr_name(const std::string& key) {
  std::string name = "p_" + key;
  for (char& c : name)
    if (c == '.') c = '_';
  return name;
}

std::string shape_text(at::IntArrayRef shape) {
  std::ostringstream out;
  out << "[";
  for (size_t i = 0; i < shape.size(); ++i) out << (i ? ", " : "") << shape[i];
  out << "]";
  return out.str();
}

// Emits the forward source and the list of expected (key, shape), block by block.
class SourceBuilder {
 public:
  std::vector<std::pair<std::string, std::vector<int64_t>>> expected;
  std::ostringstream body;

  void conv(const std::string& out, const std::string& in, const std::string& key, int64_t cin, int64_t cout, int k,
            int stride, int groups) {
    expected.push_back({key + ".weight", {cout, cin / groups, k, k}});
    body << "    " << out << " = torch.conv2d(" << in << ", self." << attr_name(key + ".weight") << ", None, ["
         << stride << ", " << stride << "], [" << k / 2 << ", " << k / 2 << "], [1, 1], " << groups << ")\n";
  }
  void bn(const std::string& var, const std::string& key, int64_t c, bool relu) {
    std::string p;
    for (const char* part : {"weight", "bias", "running_mean", "running_var"}) {
      expected.push_back({key + "." + part, {c}});
      p += ", self." + attr_name(key + "." + part);
    }
    body << "    " << var << " = torch.batch_norm(" << var << p << ", False, 0.0, 1e-05, False)\n";
    if (relu) body << "    " << var << " = torch.relu(" << var << ")\n";
  }

  void block(const Arch& arch, const std::string& key, int64_t& inplanes, int64_t planes, int stride) {
    const int expansion = arch.bottleneck ? 4 : 1;
    const bool downsample = stride != 1 || inplanes != planes * expansion;
    if (arch.bottleneck) {
      int64_t width = int64_t(double(planes) * (arch.width_per_group / 64.0)) * arch.groups;
      conv("y", "x", key + ".conv1", inplanes, width, 1, 1, 1);
      bn("y", key + ".bn1", width, true);
      conv("y", "y", key + ".conv2", width, width, 3, stride, arch.groups);
      bn("y", key + ".bn2", width, true);
      conv("y", "y", key + ".conv3", width, planes * 4, 1, 1, 1);
      bn("y", key + ".bn3", planes * 4, false);
    } else {
      conv("y", "x", key + ".conv1", inplanes, planes, 3, stride, 1);
      bn("y", key + ".bn1", planes, true);
      conv("y", "y", key + ".conv2", planes, planes, 3, 1, 1);
      bn("y", key + ".bn2", planes, false);
    }
    if (downsample) {
      conv("x", "x", key + ".downsample.0", inplanes, planes * expansion, 1, stride, 1);
      bn("x", key + ".downsample.1", planes * expansion, false);
    }
    body << "    x = torch.relu(y + x)\n";
    inplanes = planes * expansion;
  }

  int64_t backbone(const Arch& arch) {
    conv("x", "x", "feat_extract.0", 3, 64, 7, 2, 1);
    bn("x", "feat_extract.1", 64, true);
    body << "    x = torch.max_pool2d(x, [3, 3], [2, 2], [1, 1], [1, 1], False)\n";
    int64_t inplanes = 64;
    for (int layer = 0; layer < 4; ++layer) {
      for (int b = 0; b < arch.blocks[size_t(layer)]; ++b) {
        int stride = (layer > 0 && b == 0) ? 2 : 1;
        block(arch, "feat_extract." + std::to_string(layer + 4) + "." + std::to_string(b), inplanes, 64 << layer, stride);
      }
    }
    body << "    f = torch.flatten(torch.adaptive_avg_pool2d(x, [1, 1]), 1)\n";
    return inplanes;
  }

  void classifier(int64_t features, int64_t classes) {
    expected.push_back({"classifier.weight", {classes, features}});
    expected.push_back({"classifier.bias", {classes}});
    body << "    logits = torch.addmm(self." << attr_name("classifier.bias") << ", f, self."
         << attr_name("classifier.weight") << ".t())\n";
  }
};

// torchvision names (conv1, bn1, layerN, fc), TIAToolbox's "classifer", and DataParallel's "module." become CNNModel names.
std::string normalise_key(std::string key, bool strip_module) {
  if (strip_module) key = key.substr(7);
  static const std::vector<std::pair<std::string, std::string>> renames = {
      {"conv1.", "feat_extract.0."}, {"bn1.", "feat_extract.1."},     {"layer1.", "feat_extract.4."},
      {"layer2.", "feat_extract.5."}, {"layer3.", "feat_extract.6."}, {"layer4.", "feat_extract.7."},
      {"fc.", "classifier."}, {"classifer.", "classifier."}};  // TIAToolbox spells it "classifer"
  for (const auto& [from, to] : renames)
    if (key.rfind(from, 0) == 0) return to + key.substr(from.size());
  return key;
}

std::unordered_map<std::string, at::Tensor> index_weights(const StateDict& state_dict, std::vector<std::string>& order) {
  bool strip = true;
  for (const auto& [key, tensor] : state_dict) strip = strip && key.rfind("module.", 0) == 0;
  std::unordered_map<std::string, at::Tensor> weights;
  for (const auto& [key, tensor] : state_dict) {
    std::string name = normalise_key(key, strip);
    if (name.size() >= 20 && name.compare(name.size() - 20, 20, ".num_batches_tracked") == 0) continue;
    order.push_back(name);
    weights[name] = tensor;
  }
  return weights;
}

void check_and_register(torch::jit::Module& module, const SourceBuilder& builder,
                        const std::unordered_map<std::string, at::Tensor>& weights,
                        const std::vector<std::string>& order, const std::string& arch, const std::string& source) {
  std::unordered_set<std::string> known;
  for (const auto& [key, shape] : builder.expected) {
    known.insert(key);
    auto it = weights.find(key);
    if (it == weights.end())
      throw std::runtime_error(source + " does not fit " + arch + ": missing key " + key);
    if (it->second.sizes() != at::IntArrayRef(shape))
      throw std::runtime_error(source + " does not fit " + arch + ": shape of " + key + " is " +
                               shape_text(it->second.sizes()) + " in the file vs " + shape_text(shape) + " expected");
    if (!it->second.is_floating_point())
      throw std::runtime_error(source + ": " + key + " is not a floating-point tensor");
    module.register_parameter(attr_name(key), it->second.to(at::kFloat).contiguous(), false);
  }
  for (const auto& key : order)
    if (!known.count(key)) throw std::runtime_error(source + " does not fit " + arch + ": unexpected key " + key);
}

}  // namespace

BuiltinNetwork build_builtin_network(const std::string& arch_name, const StateDict& state_dict, int num_classes,
                                     const std::string& source) {
  auto found = architectures().find(arch_name);
  if (found == architectures().end()) throw std::runtime_error("unknown architecture " + arch_name);
  std::vector<std::string> order;
  auto weights = index_weights(state_dict, order);

  SourceBuilder builder;
  BuiltinNetwork net;
  net.feature_size = int(builder.backbone(found->second));
  net.num_classes = num_classes;
  if (num_classes == 0) {
    auto it = weights.find("classifier.weight");
    if (it != weights.end()) net.num_classes = it->second.dim() == 2 ? int(it->second.size(0)) : -1;
    if (net.num_classes < 0) throw std::runtime_error(source + ": classifier.weight is not a matrix");
  }
  if (net.num_classes > 0) builder.classifier(net.feature_size, net.num_classes);

  net.module = torch::jit::Module(c10::QualifiedName("__torch__.wsi.builtin." + arch_name));
  net.module.register_attribute("training", c10::BoolType::get(), false);
  check_and_register(net.module, builder, weights, order, arch_name, source);
  std::string result = net.num_classes > 0 ? "(f, logits)" : "(f, f)";
  net.module.define("def forward(self, x):\n" + builder.body.str() + "    return " + result + "\n");
  net.module.eval();
  return net;
}

}  // namespace wsi::model_detail
