// SHA-256 (OpenSSL) against the NIST FIPS 180-4 examples, whole and fed in pieces, and of a file.
#include <catch2/catch.hpp>

#include <fstream>

#include "test_support.hpp"
#include "util/sha256.hpp"

namespace {

std::string sha256_of(const std::string& bytes) {
  wsi::Sha256 hash;
  hash.update(bytes.data(), bytes.size());
  return hash.hex();
}

}  // namespace

TEST_CASE("SHA-256: NIST examples", "[sha]") {
  CHECK(sha256_of("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(sha256_of("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(sha256_of("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq") ==
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

TEST_CASE("SHA-256: a million 'a' fed in uneven pieces", "[sha]") {
  const std::string piece(999, 'a');  // not a multiple of the 64-byte block
  wsi::Sha256 hash;
  size_t fed = 0;
  for (; fed + piece.size() <= 1000000; fed += piece.size()) hash.update(piece.data(), piece.size());
  hash.update(piece.data(), 1000000 - fed);
  CHECK(hash.hex() == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST_CASE("SHA-256 of a file, and of a missing one", "[sha]") {
  const auto dir = wsi::test::scratch_dir("sha256");
  std::ofstream(dir / "abc.txt", std::ios::binary) << "abc";
  CHECK(wsi::sha256_file_hex((dir / "abc.txt").string()) ==
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK_THROWS_WITH(wsi::sha256_file_hex((dir / "missing.bin").string()), Catch::Contains("missing.bin"));
}
