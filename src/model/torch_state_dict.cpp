// A small unpickler for state_dict files written by torch.save (zip format, PyTorch >= 1.6).
// It knows the opcodes of pickle protocol 2 that torch.save emits for a dict/OrderedDict of
// tensors, persistent storage ids ('storage', torch.XStorage, key, location, numel), and the
// rebuild functions torch uses for tensors and parameters.
#include "model/torch_state_dict.hpp"

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

constexpr int kMaxDepth = 100;

ValuePtr make(Value::Kind kind) {
  auto v = std::make_shared<Value>();
  v->kind = kind;
  return v;
}

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

class Unpickler {
 public:
  Unpickler(const RecordReader& records, const char* data, size_t size)
      : records_(records), data_(data), size_(size) {}

  ValuePtr parse() {
    while (true) {
      uint8_t op = read<uint8_t>();
      if (op == '.') break;
      step(op);
    }
    if (stack_.size() != 1) throw std::runtime_error("malformed pickle (stack size " + std::to_string(stack_.size()) + ")");
    return stack_.back();
  }

 private:
  template <typename T>
  T read() {
    need(sizeof(T));
    T value;
    std::memcpy(&value, data_ + pos_, sizeof(T));
    pos_ += sizeof(T);
    return value;
  }
  void need(size_t n) {  // n may be any length the file declares: compare without wrapping
    if (n > size_ - pos_) throw std::runtime_error("truncated pickle (a length points past its end)");
  }
  std::string read_bytes(size_t n) {
    need(n);
    std::string s(data_ + pos_, n);
    pos_ += n;
    return s;
  }
  std::string read_line() {
    size_t end = pos_;
    while (end < size_ && data_[end] != '\n') ++end;
    if (end >= size_) throw std::runtime_error("truncated pickle");
    std::string s(data_ + pos_, end - pos_);
    pos_ = end + 1;
    return s;
  }
  ValuePtr pop() {
    if (stack_.empty()) throw std::runtime_error("malformed pickle (empty stack)");
    auto v = stack_.back();
    stack_.pop_back();
    return v;
  }
  std::vector<ValuePtr> pop_to_mark() {
    if (marks_.empty()) throw std::runtime_error("malformed pickle (no mark)");
    size_t mark = marks_.back();
    marks_.pop_back();
    std::vector<ValuePtr> items(stack_.begin() + long(mark), stack_.end());
    stack_.resize(mark);
    return items;
  }
  ValuePtr& top() {
    if (stack_.empty()) throw std::runtime_error("malformed pickle (empty stack)");
    return stack_.back();
  }
  void push_string(std::string s) {
    auto v = make(Value::Kind::string);
    v->text = std::move(s);
    stack_.push_back(v);
  }
  void push_int(int64_t i) {
    auto v = make(Value::Kind::integer);
    v->integer = i;
    stack_.push_back(v);
  }
  void push_tuple(std::vector<ValuePtr> items) {
    auto v = make(Value::Kind::tuple);
    v->items = std::move(items);
    for (const auto& item : v->items) deepen(*v, *item);
    stack_.push_back(v);
  }
  // Nesting is bounded: a value is destroyed recursively, so a file nesting a million tuples
  // would otherwise overflow the stack (a state_dict nests three levels).
  static void deepen(Value& container, const Value& item) {
    container.depth = std::max(container.depth, item.depth + 1);
    if (container.depth > kMaxDepth)
      throw std::runtime_error("malformed pickle (values nested deeper than " + std::to_string(kMaxDepth) + ")");
  }
  void memo_get(uint32_t index) {
    auto it = memo_.find(index);
    if (it == memo_.end()) throw std::runtime_error("malformed pickle (memo " + std::to_string(index) + ")");
    stack_.push_back(it->second);
  }

  void step(uint8_t op) {
    switch (op) {
      case 0x80: read<uint8_t>(); break;   // PROTO
      case 0x95: read<uint64_t>(); break;  // FRAME
      case '}': stack_.push_back(make(Value::Kind::dict)); break;
      case ']': stack_.push_back(make(Value::Kind::list)); break;
      case ')': push_tuple({}); break;
      case '(': marks_.push_back(stack_.size()); break;
      case 'N': stack_.push_back(make(Value::Kind::none)); break;
      case 0x88: case 0x89: {  // NEWTRUE / NEWFALSE
        auto v = make(Value::Kind::boolean);
        v->integer = op == 0x88;
        stack_.push_back(v);
        break;
      }
      case 'X': push_string(read_bytes(read<uint32_t>())); break;         // BINUNICODE
      case 0x8c: push_string(read_bytes(read<uint8_t>())); break;        // SHORT_BINUNICODE
      case 0x8d: push_string(read_bytes(read<uint64_t>())); break;       // BINUNICODE8
      case 'B': push_string(read_bytes(read<uint32_t>())); break;         // BINBYTES
      case 'C': push_string(read_bytes(read<uint8_t>())); break;          // SHORT_BINBYTES
      case 'q': memo_[read<uint8_t>()] = top(); break;                    // BINPUT
      case 'r': memo_[read<uint32_t>()] = top(); break;                   // LONG_BINPUT
      case 0x94: memo_[uint32_t(memo_.size())] = top(); break;            // MEMOIZE
      case 'h': memo_get(read<uint8_t>()); break;                         // BINGET
      case 'j': memo_get(read<uint32_t>()); break;                        // LONG_BINGET
      case 'J': push_int(read<int32_t>()); break;                         // BININT
      case 'K': push_int(read<uint8_t>()); break;                         // BININT1
      case 'M': push_int(read<uint16_t>()); break;                        // BININT2
      case 0x8a: long1(); break;                                          // LONG1
      case 'G': binfloat(); break;                                        // BINFLOAT
      case 't': push_tuple(pop_to_mark()); break;                         // TUPLE
      case 0x85: case 0x86: case 0x87: {                                  // TUPLE1/2/3
        size_t n = op - 0x84;
        if (stack_.size() < n) throw std::runtime_error("malformed pickle (tuple)");
        std::vector<ValuePtr> items(stack_.end() - long(n), stack_.end());
        stack_.resize(stack_.size() - n);
        push_tuple(std::move(items));
        break;
      }
      case 'c': {  // GLOBAL
        auto v = make(Value::Kind::global);
        std::string module = read_line();
        v->text = module + "." + read_line();
        stack_.push_back(v);
        break;
      }
      case 0x93: {  // STACK_GLOBAL
        auto name = pop();
        auto module = pop();
        auto v = make(Value::Kind::global);
        v->text = module->text + "." + name->text;
        stack_.push_back(v);
        break;
      }
      case 'Q': stack_.push_back(persistent_load(pop())); break;  // BINPERSID
      case 'R': case 0x81: {                                      // REDUCE / NEWOBJ
        auto args = pop();
        auto callable = pop();
        stack_.push_back(call(callable, args));
        break;
      }
      case 'b': pop(); break;  // BUILD: state of an OrderedDict (_metadata) or tensor: ignored
      case 's': {              // SETITEM
        auto value = pop();
        auto key = pop();
        auto dict = dict_target();
        deepen(*dict, *key), deepen(*dict, *value);
        dict->entries.emplace_back(key, value);
        break;
      }
      case 'u': {  // SETITEMS
        auto items = pop_to_mark();
        if (items.size() % 2) throw std::runtime_error("malformed pickle (setitems)");
        auto dict = dict_target();
        for (size_t i = 0; i < items.size(); i += 2) {
          deepen(*dict, *items[i]), deepen(*dict, *items[i + 1]);
          dict->entries.emplace_back(items[i], items[i + 1]);
        }
        break;
      }
      case 'a': {  // APPEND
        auto value = pop();
        deepen(*top(), *value);
        top()->items.push_back(value);
        break;
      }
      case 'e': {  // APPENDS
        auto items = pop_to_mark();
        for (const auto& item : items) deepen(*top(), *item);
        auto& list = top()->items;
        list.insert(list.end(), items.begin(), items.end());
        break;
      }
      case '0': pop(); break;            // POP
      case '1': pop_to_mark(); break;    // POP_MARK
      case '2': stack_.push_back(top()); break;  // DUP
      default: {
        char hex[8];
        std::snprintf(hex, sizeof hex, "0x%02x", op);
        throw std::runtime_error(std::string("unsupported pickle opcode ") + hex + " at byte " + std::to_string(pos_ - 1));
      }
    }
  }

  ValuePtr dict_target() {
    auto& d = top();
    if (d->kind != Value::Kind::dict) throw std::runtime_error("malformed pickle (setitem on a non-dict)");
    return d;
  }

  void long1() {
    uint8_t n = read<uint8_t>();
    if (n > 8) throw std::runtime_error("integer too large in pickle");
    std::string bytes = read_bytes(n);
    uint64_t value = 0;
    for (int i = n - 1; i >= 0; --i) value = (value << 8) | uint8_t(bytes[size_t(i)]);
    if (n > 0 && n < 8 && (uint8_t(bytes[n - 1]) & 0x80)) value |= ~uint64_t(0) << (8 * n);  // sign-extend
    push_int(int64_t(value));
  }

  void binfloat() {
    std::string bytes = read_bytes(8);
    uint64_t bits = 0;
    for (int i = 0; i < 8; ++i) bits = (bits << 8) | uint8_t(bytes[size_t(i)]);  // big-endian
    auto v = make(Value::Kind::real);
    std::memcpy(&v->real, &bits, sizeof bits);
    stack_.push_back(v);
  }

  // ('storage', torch.FloatStorage, key, location, numel): location (e.g. cuda:0) is ignored,
  // every storage is read to the CPU. Storages are shared between tensors by key.
  ValuePtr persistent_load(const ValuePtr& pid) {
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

  ValuePtr call(const ValuePtr& callable, const ValuePtr& args, int depth = 0) {
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
  const char* data_;
  size_t size_;
  size_t pos_ = 0;
  std::vector<ValuePtr> stack_;
  std::vector<size_t> marks_;
  std::unordered_map<uint32_t, ValuePtr> memo_;
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
  Unpickler unpickler(records, data, size);
  return to_state_dict(unpickler.parse());
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
