// The .pt feature tensor of `export --format clam` (wsi/model/tensor_file.hpp).
#include "wsi/model/tensor_file.hpp"

#include <torch/csrc/jit/serialization/pickle.h>
#include <torch/script.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <stdexcept>

#include "util/exclusive_file.hpp"

namespace wsi {

void write_feature_tensor(const std::string& path, const float* features, int64_t rows, int64_t cols) {
  if (rows < 0 || cols <= 0) throw std::invalid_argument("feature tensor '" + path + "': bad shape");
  torch::Tensor tensor = rows == 0 ? torch::zeros({0, cols}, torch::kFloat32)
                                   : torch::from_blob(const_cast<float*>(features), {rows, cols}, torch::kFloat32)
                                         .clone();
  const std::vector<char> bytes = torch::jit::pickle_save(tensor);
  write_file_atomically(path, std::string_view(bytes.data(), bytes.size()));
}

}  // namespace wsi
