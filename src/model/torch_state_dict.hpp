// Private to src/model: reading a PyTorch state_dict (.pth, zip format) without Python.
// LibTorch 1.13's torch::pickle_load cannot read collections.OrderedDict, so this is a small
// unpickler for what torch.save(model.state_dict()) writes. Thread-safe (no shared state).
#pragma once
#include <ATen/core/Tensor.h>

#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace wsi::model_detail {

// Keys in the file's order, CPU tensors (CUDA location tags are mapped to the CPU).
using StateDict = std::vector<std::pair<std::string, at::Tensor>>;

// Throws std::runtime_error naming `path`: not found, legacy (non-zip) format, unknown pickle
// opcode or global, missing storage record, not a dict of tensors.
StateDict load_state_dict(const std::string& path);

// The bytes of a record of the archive ("data/0"), or nothing when there is no such record.
using RecordReader = std::function<std::optional<std::string>(const std::string& name)>;
// The unpickling behind load_state_dict: `data.pkl`'s bytes, storages from `records`. Every
// length, index, nesting and tensor view is checked: a hostile pickle gives std::runtime_error,
// never a crash (tests/fuzz/fuzz_pickle.cpp).
StateDict state_dict_from_pickle(const char* data, size_t size, const RecordReader& records);

}  // namespace wsi::model_detail
