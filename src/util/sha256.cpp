// SHA-256 through libcrypto's EVP interface (OpenSSL 3: EVP_MD_fetch, EVP_DigestInit_ex2).
#include "util/sha256.hpp"

#include <openssl/err.h>
#include <openssl/evp.h>

#include <new>
#include <stdexcept>
#include <string>

namespace undocker {

namespace {

// libcrypto fails SHA-256 only when it is broken or misconfigured (no
// provider offers it): an internal failure, never the archive's fault.
[[noreturn]] void throw_libcrypto_failure(const char* call) {
  char detail[256] = "no detail";
  if (const unsigned long code = ERR_get_error(); code != 0) ERR_error_string_n(code, detail, sizeof detail);
  ERR_clear_error();
  throw std::runtime_error(std::string("libcrypto SHA-256: ") + call + " failed: " + detail);
}

// Looked up once: EVP_sha256() would make every EVP_DigestInit_ex look the
// algorithm up again among the providers, which costs about a tenth of the
// time of hashing a 4 KiB message (bench/sha256/). Kept for the process's
// life; thread-safe (a function-local static).
const EVP_MD* sha256_algorithm() {
  static EVP_MD* const algorithm = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  if (algorithm == nullptr) throw_libcrypto_failure("EVP_MD_fetch");
  return algorithm;
}

}  // namespace

Sha256::Sha256() : ctx_(EVP_MD_CTX_new()) {
  if (ctx_ == nullptr) throw std::bad_alloc();
  try {
    reset();
  } catch (...) {
    EVP_MD_CTX_free(ctx_);
    throw;
  }
}

Sha256::~Sha256() { EVP_MD_CTX_free(ctx_); }

void Sha256::reset() {
  if (EVP_DigestInit_ex2(ctx_, sha256_algorithm(), nullptr) != 1) throw_libcrypto_failure("EVP_DigestInit_ex2");
}

void Sha256::update(Bytes data) {
  if (data.empty()) return;
  if (EVP_DigestUpdate(ctx_, data.data(), data.size()) != 1) throw_libcrypto_failure("EVP_DigestUpdate");
}

std::array<std::uint8_t, 32> Sha256::finish() {
  std::array<std::uint8_t, 32> digest;
  unsigned int digest_bytes = 0;
  if (EVP_DigestFinal_ex(ctx_, digest.data(), &digest_bytes) != 1 || digest_bytes != digest.size()) {
    throw_libcrypto_failure("EVP_DigestFinal_ex");
  }
  reset();
  return digest;
}

std::string to_hex(std::span<const std::uint8_t> data) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string hex(data.size() * 2, '\0');
  for (std::size_t i = 0; i < data.size(); ++i) {
    hex[2 * i] = kDigits[data[i] >> 4];
    hex[2 * i + 1] = kDigits[data[i] & 0x0f];
  }
  return hex;
}

std::string sha256_hex(Bytes data) {
  Sha256 hash;
  hash.update(data);
  return to_hex(hash.finish());
}

}  // namespace undocker
