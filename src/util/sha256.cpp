// SHA-256 through OpenSSL, see sha256.hpp.
#include "util/sha256.hpp"

#include <cstdio>
#include <fstream>
#include <stdexcept>

#include <openssl/evp.h>

namespace wsi {

struct Sha256::Context {
  EVP_MD_CTX* md = EVP_MD_CTX_new();
  ~Context() { EVP_MD_CTX_free(md); }
};

Sha256::Sha256() : context_(std::make_unique<Context>()) {
  if (!context_->md || EVP_DigestInit_ex(context_->md, EVP_sha256(), nullptr) != 1)
    throw std::runtime_error("SHA-256: OpenSSL cannot start a digest");
}

Sha256::~Sha256() = default;

void Sha256::update(const void* data, size_t size) {
  if (EVP_DigestUpdate(context_->md, data, size) != 1) throw std::runtime_error("SHA-256: OpenSSL digest update failed");
}

std::string Sha256::hex() {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  if (EVP_DigestFinal_ex(context_->md, digest, &size) != 1)
    throw std::runtime_error("SHA-256: OpenSSL digest final failed");
  std::string out;
  char byte[3];
  for (unsigned int i = 0; i < size; ++i) std::snprintf(byte, sizeof byte, "%02x", digest[i]), out += byte;
  return out;
}

std::string sha256_file_hex(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error(path + ": cannot be read to compute its SHA-256");
  Sha256 hash;
  char buffer[1 << 16];
  while (in.read(buffer, sizeof buffer) || in.gcount() > 0) hash.update(buffer, static_cast<size_t>(in.gcount()));
  if (in.bad()) throw std::runtime_error(path + ": read error while computing its SHA-256");
  return hash.hex();
}

}  // namespace wsi
