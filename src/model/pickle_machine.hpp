// Private to src/model: a small pickle machine, enough for what torch.save writes for a
// state_dict (LibTorch 1.13's torch::pickle_load cannot read collections.OrderedDict). It
// builds plain values; what a persistent id or a global call means is left to PickleObjects
// (torch's storages and rebuild functions, src/model/torch_state_dict.cpp).
#pragma once
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace wsi::model_detail {

struct Value;
using ValuePtr = std::shared_ptr<Value>;

struct Value {
  enum class Kind { none, boolean, integer, real, string, tuple, list, dict, global, storage, tensor };
  Kind kind = Kind::none;
  int64_t integer = 0;
  double real = 0.0;
  std::string text;  // string contents, or "module.name" of a global
  std::vector<ValuePtr> items;
  std::vector<std::pair<ValuePtr, ValuePtr>> entries;
  at::Tensor tensor;  // storage (1-D) or tensor
  int depth = 0;      // nesting below this value
};

inline constexpr int kMaxDepth = 100;  // values nested deeper are refused

ValuePtr make(Value::Kind kind);

class PickleObjects {
 public:
  virtual ~PickleObjects() = default;
  // BINPERSID: the object a persistent id names.
  virtual ValuePtr persistent_load(const ValuePtr& pid) = 0;
  // REDUCE / NEWOBJ: callable(*args), callable a global.
  virtual ValuePtr call(const ValuePtr& callable, const ValuePtr& args) = 0;
};

// The value a pickle builds. Throws std::runtime_error for a truncated or malformed pickle, an
// unknown opcode, or values nested deeper than kMaxDepth (freeing them would recurse that deep).
ValuePtr unpickle(const char* data, size_t size, PickleObjects& objects);

}  // namespace wsi::model_detail
