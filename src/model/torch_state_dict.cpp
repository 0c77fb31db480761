// state_dict files written by torch.save (zip format, PyTorch >= 1.6): the archive, torch's
// persistent storage ids ('storage', torch.XStorage, key, location, numel) and the rebuild
// functions torch uses for tensors and parameters, over the pickle machine of pickle_machine.hpp.
#include "model/torch_state_dict.hpp"

#include "model/pickle_machine.hpp"

#include <ATen/ATen.h>
#include <caffe2/serialize/inline_container.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <stdexcept>
#include <unordered_map>

namespace wsi::model_detail {
namespace {

at::ScalarType storage_dtype(const std::string& global) {
  static const std::map<std::string, at::ScalarType> types = {
      {"torch.FloatStorage", at::kFloat},        {"torch.DoubleStorage", at::kDouble},
      {"torch.HalfStorage", at::kHalf},          {"torch.BFloat16Storage", at::kBFloat16},
      {"torch.LongStorage", at::kLong},          {"torch.IntStorage", at::kInt},
      {"torch.ShortStorage", at::kShort},        {"torch.CharStorage", at::kChar},
      {"torch.ByteStorage", at::kByte},          {"torch.BoolStorage", at::kBool},
      {"torch.ComplexFloatStorage", at::kComplexFloat}, {"torch.ComplexDoubleStorage", at::kComplexDouble},
      {"torch.UntypedStorage", at::kByte}};
  auto it = types.find(global);
  if (it == types.end()) throw std::runtime_error("unsupported storage type " + global);
  return it->second;
}

// A tensor's view (size, stride, offset) must lie inside its storage: as_strided does not check,
// and a forged header would read past the storage.
void check_view(int64_t numel, const std::vector<int64_t>& size, const std::vector<int64_t>& stride, int64_t offset) {
  const auto bad = [](const std::string& why) { throw std::runtime_error("a tensor " + why); };
  if (size.size() != stride.size() || size.size() > 16) bad("has a bad shape");
  if (offset < 0) bad("has a negative storage offset");
  int64_t last = offset;  // the highest element index the view touches
  for (size_t i = 0; i < size.size(); ++i) {
    if (size[i] < 0 || stride[i] < 0) bad("has a negative size or stride");
    if (size[i] == 0) return;  // an empty view touches nothing
    int64_t reach = 0;
    if (__builtin_mul_overflow(size[i] - 1, stride[i], &reach) || __builtin_add_overflow(last, reach, &last))
      bad("has sizes and strides that overflow");
  }
  if (last >= numel)
    bad("reaches element " + std::to_string(last) + " of a storage of " + std::to_string(numel) + " elements");
}

std::vector<int64_t> int_list(const ValuePtr& v, const char* what) {
  if (v->kind != Value::Kind::tuple && v->kind != Value::Kind::list)
    throw std::runtime_error(std::string("expected a tuple for the tensor ") + what);
  std::vector<int64_t> out;
  for (const auto& item : v->items) {
    if (item->kind != Value::Kind::integer) throw std::runtime_error(std::string("non-integer tensor ") + what);
    out.push_back(item->integer);
  }
  return out;
}

// Torch's storages (by persistent id, shared between tensors by key) and rebuild functions.
class TorchObjects final : public PickleObjects {
 public:
  explicit TorchObjects(const RecordReader& records) : records_(records) {}

  // ('storage', torch.FloatStorage, key, location, numel): location (e.g. cuda:0) is ignored,
  // every storage is read to the CPU. Storages are shared between tensors by key.
  ValuePtr persistent_load(const ValuePtr& pid) override {
    if (pid->kind != Value::Kind::tuple || pid->items.size() < 5 || pid->items[0]->text != "storage")
      throw std::runtime_error("unsupported persistent id in pickle");
    const std::string& type = pid->items[1]->text;
    const std::string& key = pid->items[2]->text;
    auto cached = storages_.find(key);
    if (cached != storages_.end()) return cached->second;
    at::ScalarType dtype = storage_dtype(type);
    const std::string record = "data/" + key;
    const std::optional<std::string> content = records_(record);
    if (!content) throw std::runtime_error("missing storage record " + record);
    const size_t bytes = content->size();
    const size_t element = c10::elementSize(dtype);
    const ValuePtr& numel = pid->items[4];
    if (bytes % element != 0 || numel->kind != Value::Kind::integer || numel->integer < 0 ||
        static_cast<uint64_t>(numel->integer) != bytes / element)
      throw std::runtime_error("storage record " + record + " holds " + std::to_string(bytes) +
                               " bytes, not the " + (numel->kind == Value::Kind::integer ? std::to_string(numel->integer) : std::string("?")) +
                               " elements of " + std::to_string(element) + " bytes its header declares");
    auto storage = at::empty({int64_t(bytes / element)}, at::TensorOptions().dtype(dtype));
    if (bytes) std::memcpy(storage.data_ptr(), content->data(), bytes);
    auto v = make(Value::Kind::storage);
    v->tensor = storage;
    storages_[key] = v;
    return v;
  }

  ValuePtr call(const ValuePtr& callable, const ValuePtr& args) override { return call(callable, args, 0); }

 private:
  ValuePtr call(const ValuePtr& callable, const ValuePtr& args, int depth) {
    if (callable->kind != Value::Kind::global) throw std::runtime_error("malformed pickle (call of a non-global)");
    if (depth > 4) throw std::runtime_error("malformed pickle (rebuild calls nested too deep)");
    const std::string& name = callable->text;
    const auto& a = args->items;
    if (name == "collections.OrderedDict" || name == "builtins.dict") {
      auto d = make(Value::Kind::dict);
      if (!a.empty() && (a[0]->kind == Value::Kind::list || a[0]->kind == Value::Kind::tuple)) {
        for (const auto& pair : a[0]->items)
          if (pair->items.size() == 2) d->entries.emplace_back(pair->items[0], pair->items[1]);
      }
      return d;
    }
    if (name == "torch._utils._rebuild_tensor_v2" || name == "torch._utils._rebuild_tensor") {
      if (a.size() < 4 || a[0]->kind != Value::Kind::storage || a[1]->kind != Value::Kind::integer)
        throw std::runtime_error("bad arguments to " + name);
      auto v = make(Value::Kind::tensor);
      const auto size = int_list(a[2], "size"), stride = int_list(a[3], "stride");
      check_view(a[0]->tensor.numel(), size, stride, a[1]->integer);
      v->tensor = a[0]->tensor.as_strided(size, stride, a[1]->integer);
      return v;
    }
    if (name == "torch._utils._rebuild_parameter" || name == "torch._utils._rebuild_parameter_with_state") {
      if (a.empty() || a[0]->kind != Value::Kind::tensor) throw std::runtime_error("bad arguments to " + name);
      return a[0];
    }
    if (name == "torch._tensor._rebuild_from_type_v2" || name == "torch._tensor._rebuild_from_type") {
      if (a.size() < 3) throw std::runtime_error("bad arguments to " + name);
      return call(a[0], a[2], depth + 1);
    }
    throw std::runtime_error("unsupported Python object " + name + " in the pickle (a state_dict holds only tensors)");
  }

  const RecordReader& records_;
  std::unordered_map<std::string, ValuePtr> storages_;
};

void check_zip(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open the file");
  char magic[4] = {0, 0, 0, 0};
  in.read(magic, 4);
  if (std::memcmp(magic, "PK\x03\x04", 4) == 0) return;
  if (uint8_t(magic[0]) == 0x80)
    throw std::runtime_error(
        "legacy (non-zip) PyTorch format, which LibTorch cannot read; re-save it with PyTorch >= 1.6: "
        "torch.save(torch.load(old), new)");
  throw std::runtime_error("not a PyTorch .pth file (no zip header)");
}

// A checkpoint {"state_dict": {...}, ...} or {"model": {...}} is unwrapped to its state_dict.
ValuePtr unwrap_checkpoint(const ValuePtr& root) {
  if (root->kind != Value::Kind::dict) throw std::runtime_error("the file holds no dict");
  for (const auto& [key, value] : root->entries) {
    if (value->kind == Value::Kind::tensor) return root;
  }
  for (const char* name : {"state_dict", "model_state_dict", "model"}) {
    for (const auto& [key, value] : root->entries) {
      if (key->text == name && value->kind == Value::Kind::dict) return value;
    }
  }
  return root;
}

StateDict to_state_dict(const ValuePtr& root) {
  StateDict out;
  for (const auto& [key, value] : unwrap_checkpoint(root)->entries) {
    if (key->kind != Value::Kind::string) throw std::runtime_error("a key of the dict is not a string");
    if (value->kind != Value::Kind::tensor) throw std::runtime_error("entry '" + key->text + "' is not a tensor");
    out.emplace_back(key->text, value->tensor);
  }
  if (out.empty()) throw std::runtime_error("the state_dict is empty");
  return out;
}

}  // namespace

StateDict state_dict_from_pickle(const char* data, size_t size, const RecordReader& records) {
  TorchObjects objects(records);
  return to_state_dict(unpickle(data, size, objects));
}

StateDict load_state_dict(const std::string& path) {
  try {
    check_zip(path);
    caffe2::serialize::PyTorchStreamReader reader(path);
    if (reader.hasRecord("constants.pkl") || reader.hasRecord("code/__torch__.py"))
      throw std::runtime_error("this is a TorchScript model, not a state_dict: pass it with --model");
    if (reader.hasRecord("byteorder")) {
      auto [order, n] = reader.getRecord("byteorder");
      if (std::string(static_cast<const char*>(order.get()), n) != "little")
        throw std::runtime_error("big-endian tensor data is not supported");
    }
    auto [data, size] = reader.getRecord("data.pkl");
    return state_dict_from_pickle(static_cast<const char*>(data.get()), size,
                                  [&reader](const std::string& name) -> std::optional<std::string> {
                                    if (!reader.hasRecord(name)) return std::nullopt;
                                    auto [bytes, n] = reader.getRecord(name);
                                    return std::string(static_cast<const char*>(bytes.get()), n);
                                  });
  } catch (const c10::Error& e) {
    throw std::runtime_error("cannot read state_dict " + path + ": " + e.what_without_backtrace());
  } catch (const std::exception& e) {
    throw std::runtime_error("cannot read state_dict " + path + ": " + e.what());
  }
}

}  // namespace wsi::model_detail
