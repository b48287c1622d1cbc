// SHA-256 for digest checks on blobs and on the uncompressed layer stream,
// from libcrypto (OpenSSL's EVP interface), which picks the fastest code
// for the CPU (SHA-NI, AVX2, …) itself. A hand-written implementation was
// no faster (bench/RESULTS.md, issue 14), and a cryptographic primitive is
// better left to the library that is maintained for it.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>

#include "util/bytes.hpp"

// libcrypto's context type, so that callers need not include OpenSSL.
struct evp_md_ctx_st;

namespace undocker {

/// Incremental SHA-256. Each object owns one libcrypto digest context;
/// bytes are hashed straight from the caller's span, never copied.
class Sha256 {
 public:
  /// Throws std::bad_alloc when libcrypto cannot make a context.
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  /// Appends `data` to the message.
  void update(Bytes data);

  /// Pads the message and returns its digest. The object is then reset and
  /// can hash a new message.
  std::array<std::uint8_t, 32> finish();

 private:
  void reset();

  evp_md_ctx_st* ctx_;
};

/// Lowercase hex of `data` ("3f5a…").
std::string to_hex(std::span<const std::uint8_t> data);

/// Lowercase hex SHA-256 of `data`, as digests are written in image JSON.
std::string sha256_hex(Bytes data);

}  // namespace undocker
