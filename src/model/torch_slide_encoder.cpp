// The slide-level model of `wsi-mpi aggregate`: a TorchScript module over one slide's tiles.
#include <ATen/Parallel.h>
#include <torch/script.h>
#include <torch/version.h>

#include <stdexcept>

#include "wsi/model/model.hpp"

namespace wsi {
namespace {

class TorchSlideEncoder final : public SlideEncoder {
 public:
  TorchSlideEncoder(std::string path, torch::jit::Module module) : path_(std::move(path)), module_(std::move(module)) {
    module_.eval();
  }

  std::vector<float> encode(const float* features, int64_t tiles, int64_t feature_size,
                            const int64_t* coords) override {
    try {
      c10::InferenceMode guard;
      const at::Tensor x = torch::from_blob(const_cast<float*>(features), {tiles, feature_size}, at::kFloat);
      const at::Tensor xy = torch::from_blob(const_cast<int64_t*>(coords), {tiles, 2}, at::kLong);
      const torch::jit::IValue out = module_.forward({x, xy});
      if (!out.isTensor()) throw std::runtime_error("it returned something other than a tensor");
      at::Tensor e = out.toTensor().to(at::kFloat).contiguous();
      if (e.dim() == 2 && e.size(0) == 1) e = e.squeeze(0);
      if (e.dim() != 1)
        throw std::runtime_error("it returned a tensor of shape " + shape(e) + ", not [E] or [1, E]");
      const float* p = e.data_ptr<float>();
      return std::vector<float>(p, p + e.numel());
    } catch (const c10::Error& e) {
      throw std::runtime_error("slide encoder " + path_ + " failed: " + e.what_without_backtrace());
    } catch (const std::runtime_error& e) {
      throw std::runtime_error("slide encoder " + path_ + ": " + e.what());
    }
  }

 private:
  static std::string shape(const at::Tensor& t) {
    std::string s = "[";
    for (int64_t i = 0; i < t.dim(); ++i) s += (i ? ", " : "") + std::to_string(t.size(i));
    return s + "]";
  }

  std::string path_;
  torch::jit::Module module_;
};

}  // namespace

std::unique_ptr<SlideEncoder> load_slide_encoder(const std::string& path, int threads) {
  if (threads > 0) at::set_num_threads(threads);
  try {
    return std::make_unique<TorchSlideEncoder>(path, torch::jit::load(path, c10::Device(c10::kCPU)));
  } catch (const c10::Error& e) {
    throw std::runtime_error("cannot load slide encoder " + path + ": " + e.what_without_backtrace() +
                             "\n(TorchScript written by a PyTorch newer than this LibTorch " + TORCH_VERSION +
                             " may not load: export it with torch " + TORCH_VERSION + ")");
  }
}

}  // namespace wsi
