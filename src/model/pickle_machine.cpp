// The pickle machine behind state_dict loading (see src/model/pickle_machine.hpp): the opcodes
// of the pickle protocols torch.save writes, every length, index and nesting checked.
#include "model/pickle_machine.hpp"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <unordered_map>

namespace wsi::model_detail {
namespace {

class Unpickler {
 public:
  Unpickler(PickleObjects& objects, const char* data, size_t size) : objects_(objects), data_(data), size_(size) {}

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

  // One case per opcode of the protocol torch.save writes (the larger ones are methods below).
  void step(uint8_t op) {
    switch (op) {
      case 0x80: read<uint8_t>(); break;   // PROTO
      case 0x95: read<uint64_t>(); break;  // FRAME
      case '}': stack_.push_back(make(Value::Kind::dict)); break;
      case ']': stack_.push_back(make(Value::Kind::list)); break;
      case ')': push_tuple({}); break;
      case '(': marks_.push_back(stack_.size()); break;
      case 'N': stack_.push_back(make(Value::Kind::none)); break;
      case 0x88: case 0x89: push_bool(op == 0x88); break;                 // NEWTRUE / NEWFALSE
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
      case 0x85: case 0x86: case 0x87: tuple_of(op - 0x84); break;        // TUPLE1/2/3
      case 'c': global(); break;                                          // GLOBAL
      case 0x93: stack_global(); break;                                   // STACK_GLOBAL
      case 'Q': stack_.push_back(objects_.persistent_load(pop())); break;  // BINPERSID
      case 'R': case 0x81: reduce(); break;                               // REDUCE / NEWOBJ
      case 'b': pop(); break;  // BUILD: state of an OrderedDict (_metadata) or tensor: ignored
      case 's': set_items(pop_last(2)); break;                            // SETITEM
      case 'u': set_items(pop_to_mark()); break;                          // SETITEMS
      case 'a': append(pop_last(1)); break;                               // APPEND
      case 'e': append(pop_to_mark()); break;                             // APPENDS
      case '0': pop(); break;                                             // POP
      case '1': pop_to_mark(); break;                                     // POP_MARK
      case '2': stack_.push_back(top()); break;                           // DUP
      default: {
        char hex[8];
        std::snprintf(hex, sizeof hex, "0x%02x", op);
        throw std::runtime_error(std::string("unsupported pickle opcode ") + hex + " at byte " + std::to_string(pos_ - 1));
      }
    }
  }

  void push_bool(bool value) {
    auto v = make(Value::Kind::boolean);
    v->integer = value;
    stack_.push_back(v);
  }
  // The last n values, in stack order.
  std::vector<ValuePtr> pop_last(size_t n) {
    if (stack_.size() < n) throw std::runtime_error("malformed pickle (stack too short)");
    std::vector<ValuePtr> items(stack_.end() - long(n), stack_.end());
    stack_.resize(stack_.size() - n);
    return items;
  }
  void tuple_of(size_t n) { push_tuple(pop_last(n)); }
  void global() {
    std::string module = read_line();  // then the name's line
    push_global(module, read_line());
  }
  void push_global(const std::string& module, const std::string& name) {
    auto v = make(Value::Kind::global);
    v->text = module + "." + name;
    stack_.push_back(v);
  }
  void stack_global() {
    auto name = pop();
    auto module = pop();
    push_global(module->text, name->text);
  }
  void reduce() {
    auto args = pop();
    auto callable = pop();
    stack_.push_back(objects_.call(callable, args));
  }
  void set_items(const std::vector<ValuePtr>& items) {
    if (items.size() % 2) throw std::runtime_error("malformed pickle (setitems)");
    auto dict = dict_target();
    for (size_t i = 0; i < items.size(); i += 2) {
      deepen(*dict, *items[i]), deepen(*dict, *items[i + 1]);
      dict->entries.emplace_back(items[i], items[i + 1]);
    }
  }
  void append(const std::vector<ValuePtr>& items) {
    for (const auto& item : items) deepen(*top(), *item);
    auto& list = top()->items;
    list.insert(list.end(), items.begin(), items.end());
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

  PickleObjects& objects_;
  const char* data_;
  size_t size_;
  size_t pos_ = 0;
  std::vector<ValuePtr> stack_;
  std::vector<size_t> marks_;
  std::unordered_map<uint32_t, ValuePtr> memo_;
};

}  // namespace

ValuePtr make(Value::Kind kind) {
  auto v = std::make_shared<Value>();
  v->kind = kind;
  return v;
}

ValuePtr unpickle(const char* data, size_t size, PickleObjects& objects) {
  Unpickler unpickler(objects, data, size);
  return unpickler.parse();
}

}  // namespace wsi::model_detail
