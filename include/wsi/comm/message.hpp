// Typed messages between ranks: the one byte encoding of everything the ranks exchange (slide
// plans, slide failures, rank statistics). A type travels when it is trivially copyable, a
// string, a vector or map of such, or has `encode(MessageWriter&, const T&)` and
// `decode(MessageReader&, T&)` overloads beside it (found by argument-dependent lookup). All
// ranks run the same binary, so values go in host byte order; a reader checks every length
// against what is left and throws on a truncated or overlong message instead of reading past it.
#pragma once
#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "wsi/comm/comm.hpp"

namespace wsi {

class MessageWriter {
 public:
  template <typename T>
  MessageWriter& operator<<(const T& value);
  // `count` trivially copyable items of `size` bytes.
  void put_raw(const void* data, uint64_t count, size_t size) {
    bytes_.append(static_cast<const char*>(data), count * size);
  }
  std::string take() { return std::move(bytes_); }

 private:
  std::string bytes_;
};

class MessageReader {
 public:
  // `what` names the message in errors ("slide plans").
  MessageReader(const std::string& bytes, const char* what) : bytes_(bytes), what_(what) {}
  template <typename T>
  MessageReader& operator>>(T& value);
  // `count` items of `size` bytes; throws (before the caller allocates) when fewer are left.
  void get_raw(void* data, uint64_t count, size_t size) {
    check_left(count, size);
    at_ += bytes_.copy(static_cast<char*>(data), count * size, at_);
  }
  // Whether `count` items of `size` bytes are left: a length is checked before it is trusted.
  void check_left(uint64_t count, size_t size) const {
    if (count > (bytes_.size() - at_) / size) throw std::runtime_error(std::string("truncated message: ") + what_);
  }
  // Throws unless every byte was read.
  void expect_end() const {
    if (at_ != bytes_.size()) throw std::runtime_error(std::string("message with trailing bytes: ") + what_);
  }

 private:
  const std::string& bytes_;
  const char* what_;
  size_t at_ = 0;
};

template <typename T>
MessageWriter& MessageWriter::operator<<(const T& value) {
  if constexpr (std::is_trivially_copyable_v<T>) {
    put_raw(&value, 1, sizeof value);
  } else {
    encode(*this, value);
  }
  return *this;
}

template <typename T>
MessageReader& MessageReader::operator>>(T& value) {
  if constexpr (std::is_trivially_copyable_v<T>) {
    get_raw(&value, 1, sizeof value);
  } else {
    decode(*this, value);
  }
  return *this;
}

inline void encode(MessageWriter& w, const std::string& s) {
  w << static_cast<uint64_t>(s.size());
  w.put_raw(s.data(), s.size(), 1);
}
inline void decode(MessageReader& r, std::string& s) {
  uint64_t size = 0;
  r >> size;
  r.check_left(size, 1);
  s.resize(size);
  r.get_raw(s.data(), size, 1);
}

template <typename T>
void encode(MessageWriter& w, const std::vector<T>& values) {
  w << static_cast<uint64_t>(values.size());
  if constexpr (std::is_trivially_copyable_v<T>) {
    w.put_raw(values.data(), values.size(), sizeof(T));
  } else {
    for (const T& v : values) w << v;
  }
}
template <typename T>
void decode(MessageReader& r, std::vector<T>& values) {
  uint64_t size = 0;
  r >> size;
  values.clear();
  if constexpr (std::is_trivially_copyable_v<T>) {
    r.check_left(size, sizeof(T));
    values.resize(size);
    r.get_raw(values.data(), size, sizeof(T));
  } else {
    for (uint64_t i = 0; i < size; ++i) r >> values.emplace_back();
  }
}

template <typename K, typename V>
void encode(MessageWriter& w, const std::map<K, V>& values) {
  w << static_cast<uint64_t>(values.size());
  for (const auto& [key, value] : values) w << key << value;
}
template <typename K, typename V>
void decode(MessageReader& r, std::map<K, V>& values) {
  uint64_t size = 0;
  r >> size;
  values.clear();
  for (uint64_t i = 0; i < size; ++i) {
    K key{};
    V value{};
    r >> key >> value;
    values.emplace(std::move(key), std::move(value));
  }
}

template <typename T>
std::string encode_message(const T& value) {
  MessageWriter w;
  w << value;
  return w.take();
}

template <typename T>
T decode_message(const std::string& bytes, const char* what) {
  MessageReader r(bytes, what);
  T value{};
  r >> value;
  r.expect_end();
  return value;
}

// Collective: every rank's `values`, concatenated in rank order, on every rank.
template <typename T>
std::vector<T> all_gather_concat(const Comm& comm, const std::vector<T>& values, const char* what) {
  std::vector<T> out;
  for (const std::string& part : comm.all_gather(encode_message(values))) {
    const auto mine = decode_message<std::vector<T>>(part, what);
    out.insert(out.end(), mine.begin(), mine.end());
  }
  return out;
}

// Collective: every rank's `value`, in rank order, on every rank.
template <typename T>
std::vector<T> all_gather_message(const Comm& comm, const T& value, const char* what) {
  std::vector<T> out;
  for (const std::string& part : comm.all_gather(encode_message(value))) out.push_back(decode_message<T>(part, what));
  return out;
}

}  // namespace wsi
