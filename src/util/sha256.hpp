// SHA-256 (FIPS 180-4), written for digest checks on blobs and on the
// uncompressed layer stream; no OpenSSL dependency for one hash function.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "util/bytes.hpp"

namespace undocker {

/// Incremental SHA-256. Whole 64-byte blocks are hashed straight from the
/// caller's span; only a partial block at either end is copied.
class Sha256 {
 public:
  Sha256();

  /// Appends `data` to the message.
  void update(Bytes data);

  /// Pads the message and returns its digest. The object is then reset and
  /// can hash a new message.
  std::array<std::uint8_t, 32> finish();

 private:
  void reset();
  void compress_blocks(const std::uint8_t* blocks, std::size_t block_count);

  std::array<std::uint32_t, 8> state_;
  std::array<std::uint8_t, 64> pending_;  // a partial block awaiting more input
  std::size_t pending_bytes_ = 0;
  std::uint64_t message_bytes_ = 0;
};

/// Lowercase hex of `data` ("3f5a…").
std::string to_hex(std::span<const std::uint8_t> data);

/// Lowercase hex SHA-256 of `data`, as digests are written in image JSON.
std::string sha256_hex(Bytes data);

}  // namespace undocker
