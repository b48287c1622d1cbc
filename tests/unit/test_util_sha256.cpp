// SHA-256 (libcrypto behind our small class) against the FIPS 180-4 example
// vectors (NIST CSRC "SHA256.pdf", "SHA2_Additional.pdf"), padding edge
// lengths, chunked updates, and against libcrypto's EVP interface called
// directly on random messages of many sizes.
#include <doctest/doctest.h>

#include <openssl/evp.h>

#include <array>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "util/sha256.hpp"

namespace undocker {

namespace {

std::string hash_text(const std::string& text) { return sha256_hex(as_bytes(text)); }

// The digest from libcrypto's one-shot EVP_Digest, bypassing our class.
std::string evp_sha256_hex(Bytes data) {
  std::array<std::uint8_t, 32> digest{};
  unsigned int digest_bytes = 0;
  REQUIRE(EVP_Digest(data.data(), data.size(), digest.data(), &digest_bytes, EVP_sha256(), nullptr) == 1);
  REQUIRE(digest_bytes == digest.size());
  return to_hex(digest);
}

std::vector<std::uint8_t> random_bytes(std::mt19937& random, std::size_t size) {
  std::vector<std::uint8_t> data(size);
  for (std::uint8_t& byte : data) byte = static_cast<std::uint8_t>(random());
  return data;
}

}  // namespace

TEST_CASE("sha256 NIST example vectors") {
  CHECK(hash_text("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(hash_text("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  // The 448-bit message: padding spills into a second block.
  CHECK(hash_text("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq") ==
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  // The 896-bit message.
  CHECK(hash_text("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrs"
                  "mnopqrstnopqrstu") == "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
}

TEST_CASE("sha256 of one million 'a', one-shot and 1000 updates of 1000") {
  const std::string million(1000000, 'a');
  const std::string expected = "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0";
  CHECK(hash_text(million) == expected);
  Sha256 hash;
  const std::string thousand(1000, 'a');
  for (int i = 0; i < 1000; ++i) hash.update(as_bytes(thousand));
  CHECK(to_hex(hash.finish()) == expected);
}

TEST_CASE("sha256 at the padding boundaries") {
  // Reference digests from coreutils sha256sum.
  CHECK(hash_text(std::string(55, 'a')) == "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318");
  CHECK(hash_text(std::string(56, 'a')) == "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a");
  CHECK(hash_text(std::string(63, 'a')) == "7d3e74a05d7db15bce4ad9ec0658ea98e3f06eeecf16b4c6fff2da457ddc2f34");
  CHECK(hash_text(std::string(64, 'a')) == "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb");
  CHECK(hash_text(std::string(119, 'a')) == "31eba51c313a5c08226adf18d4a359cfdfd8d2e816b13f4af952f7ea6584dcfb");
}

TEST_CASE("sha256 chunked updates in odd piece sizes equal the one-shot digest") {
  std::mt19937 random(20240601);
  const std::vector<std::uint8_t> data = random_bytes(random, 100000);
  const std::string expected = sha256_hex(data);
  for (int trial = 0; trial < 200; ++trial) {
    Sha256 hash;
    std::size_t offset = 0;
    // Mostly small pieces so partial blocks meet whole ones at every offset.
    const std::size_t max_piece = trial % 2 == 0 ? 130 : 5000;
    while (offset < data.size()) {
      const std::size_t piece = std::min<std::size_t>(random() % (max_piece + 1), data.size() - offset);
      hash.update(Bytes(data).subspan(offset, piece));  // includes empty updates
      offset += piece;
    }
    CHECK(to_hex(hash.finish()) == expected);
  }
  // Fixed odd sizes: 1, a prime, one less and one more than a block.
  for (const std::size_t piece : {std::size_t{1}, std::size_t{7}, std::size_t{63}, std::size_t{65}, std::size_t{4099}}) {
    Sha256 hash;
    for (std::size_t offset = 0; offset < data.size(); offset += piece) {
      hash.update(Bytes(data).subspan(offset, std::min(piece, data.size() - offset)));
    }
    CHECK_MESSAGE(to_hex(hash.finish()) == expected, "pieces of ", piece);
  }
}

TEST_CASE("sha256 agrees with libcrypto's EVP_Digest on random messages of many sizes") {
  std::mt19937 random(14);
  std::vector<std::size_t> sizes;
  for (std::size_t size = 0; size <= 300; ++size) sizes.push_back(size);  // every padding case
  for (const std::size_t size : {std::size_t{1} << 12, std::size_t{1} << 16, (std::size_t{1} << 20) + 3,
                                 (std::size_t{2} << 20) + 65, (std::size_t{4} << 20) - 1}) {
    sizes.push_back(size);
  }
  for (int i = 0; i < 40; ++i) sizes.push_back(random() % (std::size_t{1} << 18));
  for (const std::size_t size : sizes) {
    const std::vector<std::uint8_t> data = random_bytes(random, size);
    const std::string expected = evp_sha256_hex(data);
    CHECK_MESSAGE(sha256_hex(data) == expected, size, " bytes");
    // And in two uneven updates through one reused object.
    Sha256 hash;
    const std::size_t split = size == 0 ? 0 : random() % size;
    hash.update(Bytes(data).first(split));
    hash.update(Bytes(data).subspan(split));
    CHECK_MESSAGE(to_hex(hash.finish()) == expected, size, " bytes split at ", split);
  }
}

TEST_CASE("sha256 finish resets the object for a new message") {
  Sha256 hash;
  hash.update(as_bytes("abc"));
  CHECK(to_hex(hash.finish()) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(to_hex(hash.finish()) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  hash.update(as_bytes("abc"));
  CHECK(to_hex(hash.finish()) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST_CASE("to_hex is lowercase, two digits a byte") {
  const std::vector<std::uint8_t> bytes = {0x00, 0x0f, 0xa5, 0xff};
  CHECK(to_hex(bytes) == "000fa5ff");
  CHECK(to_hex({}) == "");
}

}  // namespace undocker
