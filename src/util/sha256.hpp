// SHA-256 of bytes or of a file, as lowercase hex (OpenSSL's EVP digest): fingerprints weights,
// models and manifests.
#pragma once
#include <cstddef>
#include <memory>
#include <string>

namespace wsi {

// A digest fed in pieces; hex() ends it.
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void update(const void* data, size_t size);
  std::string hex();

 private:
  struct Context;
  std::unique_ptr<Context> context_;
};

std::string sha256_file_hex(const std::string& path);  // throws std::runtime_error naming the file

}  // namespace wsi
