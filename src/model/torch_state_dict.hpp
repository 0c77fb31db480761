// Private to src/model: reading a PyTorch state_dict (.pth, zip format) without Python.
// LibTorch 1.13's torch::pickle_load cannot read collections.OrderedDict, so this is a small
// unpickler for what torch.save(model.state_dict()) writes. Thread-safe (no shared state).
#pragma once
#include <ATen/core/Tensor.h>

#include <string>
#include <utility>
#include <vector>

namespace wsi::model_detail {

// Keys in the file's order, CPU tensors (CUDA location tags are mapped to the CPU).
using StateDict = std::vector<std::pair<std::string, at::Tensor>>;

// Throws std::runtime_error naming `path`: not found, legacy (non-zip) format, unknown pickle
// opcode or global, missing storage record, not a dict of tensors.
StateDict load_state_dict(const std::string& path);

}  // namespace wsi::model_detail
