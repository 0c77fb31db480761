// A tensor file Python's torch.load reads (the pt_files of `wsi-mpi export --format clam`);
// LibTorch writes it, so it lives with the model.
#pragma once
#include <cstdint>
#include <string>

namespace wsi {

// Writes a rows x cols float32 tensor with torch::pickle_save, the format of Python's
// torch.save (zip archive): torch.load(path) returns the tensor.
void write_feature_tensor(const std::string& path, const float* features, int64_t rows, int64_t cols);

}  // namespace wsi
