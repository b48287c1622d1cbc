// SHA-256 from FIPS 180-4, sections 4.1.2 (functions), 4.2.2 (constants),
// 5.1.1 (padding), 5.3.3 (initial hash) and 6.2.2 (computation).
#include "util/sha256.hpp"

#include "util/knobs.hpp"
#include "util/sha256_constants.hpp"
#include "util/sha256_x86.hpp"

#include <bit>
#include <cstring>

namespace undocker {

namespace {

// FIPS 180-4 section 5.3.3: square roots of the first 8 primes.
constexpr std::array<std::uint32_t, 8> kInitialState = {
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
};

constexpr std::size_t kBlockBytes = 64;

inline std::uint32_t load_be32(const std::uint8_t* p) {
  std::uint32_t word;
  std::memcpy(&word, p, sizeof word);  // unaligned-safe; compiles to one load
  if constexpr (std::endian::native == std::endian::little) word = __builtin_bswap32(word);
  return word;
}

inline void store_be32(std::uint8_t* p, std::uint32_t word) {
  if constexpr (std::endian::native == std::endian::little) word = __builtin_bswap32(word);
  std::memcpy(p, &word, sizeof word);
}

// Section 4.1.2, equations 4.2-4.7.
inline std::uint32_t choose(std::uint32_t x, std::uint32_t y, std::uint32_t z) { return z ^ (x & (y ^ z)); }
inline std::uint32_t majority(std::uint32_t x, std::uint32_t y, std::uint32_t z) { return (x & y) | (z & (x | y)); }
inline std::uint32_t big_sigma0(std::uint32_t x) { return std::rotr(x, 2) ^ std::rotr(x, 13) ^ std::rotr(x, 22); }
inline std::uint32_t big_sigma1(std::uint32_t x) { return std::rotr(x, 6) ^ std::rotr(x, 11) ^ std::rotr(x, 25); }
inline std::uint32_t small_sigma0(std::uint32_t x) { return std::rotr(x, 7) ^ std::rotr(x, 18) ^ (x >> 3); }
inline std::uint32_t small_sigma1(std::uint32_t x) { return std::rotr(x, 17) ^ std::rotr(x, 19) ^ (x >> 10); }

// One step of section 6.2.2 part 3. Instead of shifting eight variables
// each round, the caller rotates which variable plays which role, so only
// d and h are written.
inline void do_round(std::uint32_t a, std::uint32_t b, std::uint32_t c, std::uint32_t& d, std::uint32_t e,
                     std::uint32_t f, std::uint32_t g, std::uint32_t& h, std::uint32_t constant_plus_word) {
  const std::uint32_t t1 = h + big_sigma1(e) + choose(e, f, g) + constant_plus_word;
  const std::uint32_t t2 = big_sigma0(a) + majority(a, b, c);
  d += t1;
  h = t1 + t2;
}

// The message schedule (section 6.2.2 part 1) kept as a 16-word ring: word t
// replaces word t-16 in place.
inline std::uint32_t next_word(std::uint32_t* w, std::size_t t) {
  w[t & 15] += small_sigma1(w[(t - 2) & 15]) + w[(t - 7) & 15] + small_sigma0(w[(t - 15) & 15]);
  return w[t & 15];
}

}  // namespace

Sha256::Sha256() { reset(); }

void Sha256::reset() {
  state_ = kInitialState;
  pending_bytes_ = 0;
  message_bytes_ = 0;
}

void Sha256::compress_blocks(const std::uint8_t* blocks, std::size_t block_count) {
  // SHA-NI hashes about 4.5 times faster here (bench/RESULTS.md).
  // UNDOCKER_SHA256=portable forces the portable rounds (the tests run both).
  static const bool use_sha_ni = cpu_has_sha_ni() && knobs().sha256 != Sha256Knob::kPortable;
  if (use_sha_ni) {
    sha256_compress_sha_ni(state_.data(), blocks, block_count);
    return;
  }
  std::uint32_t a = state_[0], b = state_[1], c = state_[2], d = state_[3];
  std::uint32_t e = state_[4], f = state_[5], g = state_[6], h = state_[7];
  for (; block_count > 0; --block_count, blocks += kBlockBytes) {
    std::uint32_t w[16];
    for (std::size_t t = 0; t < 16; ++t) w[t] = load_be32(blocks + 4 * t);
    const std::uint32_t* k = kSha256RoundConstants;
    // Rounds 0-15 use the block's words as they are.
    for (std::size_t t = 0; t < 16; t += 8) {
      do_round(a, b, c, d, e, f, g, h, k[t + 0] + w[t + 0]);
      do_round(h, a, b, c, d, e, f, g, k[t + 1] + w[t + 1]);
      do_round(g, h, a, b, c, d, e, f, k[t + 2] + w[t + 2]);
      do_round(f, g, h, a, b, c, d, e, k[t + 3] + w[t + 3]);
      do_round(e, f, g, h, a, b, c, d, k[t + 4] + w[t + 4]);
      do_round(d, e, f, g, h, a, b, c, k[t + 5] + w[t + 5]);
      do_round(c, d, e, f, g, h, a, b, k[t + 6] + w[t + 6]);
      do_round(b, c, d, e, f, g, h, a, k[t + 7] + w[t + 7]);
    }
    for (std::size_t t = 16; t < 64; t += 8) {
      do_round(a, b, c, d, e, f, g, h, k[t + 0] + next_word(w, t + 0));
      do_round(h, a, b, c, d, e, f, g, k[t + 1] + next_word(w, t + 1));
      do_round(g, h, a, b, c, d, e, f, k[t + 2] + next_word(w, t + 2));
      do_round(f, g, h, a, b, c, d, e, k[t + 3] + next_word(w, t + 3));
      do_round(e, f, g, h, a, b, c, d, k[t + 4] + next_word(w, t + 4));
      do_round(d, e, f, g, h, a, b, c, k[t + 5] + next_word(w, t + 5));
      do_round(c, d, e, f, g, h, a, b, k[t + 6] + next_word(w, t + 6));
      do_round(b, c, d, e, f, g, h, a, k[t + 7] + next_word(w, t + 7));
    }
    // Section 6.2.2 part 4: add this block's result into the hash.
    a = state_[0] += a;
    b = state_[1] += b;
    c = state_[2] += c;
    d = state_[3] += d;
    e = state_[4] += e;
    f = state_[5] += f;
    g = state_[6] += g;
    h = state_[7] += h;
  }
}

void Sha256::update(Bytes data) {
  message_bytes_ += data.size();
  const std::uint8_t* next = data.data();
  std::size_t remaining = data.size();
  if (pending_bytes_ > 0) {
    const std::size_t take = std::min(remaining, kBlockBytes - pending_bytes_);
    std::memcpy(pending_.data() + pending_bytes_, next, take);
    pending_bytes_ += take;
    next += take;
    remaining -= take;
    if (pending_bytes_ < kBlockBytes) return;
    compress_blocks(pending_.data(), 1);
    pending_bytes_ = 0;
  }
  // The bulk of a large update is hashed in place, never copied.
  const std::size_t whole_blocks = remaining / kBlockBytes;
  if (whole_blocks > 0) compress_blocks(next, whole_blocks);
  next += whole_blocks * kBlockBytes;
  remaining -= whole_blocks * kBlockBytes;
  if (remaining > 0) std::memcpy(pending_.data(), next, remaining);
  pending_bytes_ = remaining;
}

std::array<std::uint8_t, 32> Sha256::finish() {
  // Section 5.1.1: a 1 bit, zeros to 56 mod 64 bytes, then the length in bits.
  const std::uint64_t message_bits = message_bytes_ * 8;
  pending_[pending_bytes_++] = 0x80;
  if (pending_bytes_ > kBlockBytes - 8) {
    std::memset(pending_.data() + pending_bytes_, 0, kBlockBytes - pending_bytes_);
    compress_blocks(pending_.data(), 1);
    pending_bytes_ = 0;
  }
  std::memset(pending_.data() + pending_bytes_, 0, kBlockBytes - 8 - pending_bytes_);
  store_be32(pending_.data() + 56, static_cast<std::uint32_t>(message_bits >> 32));
  store_be32(pending_.data() + 60, static_cast<std::uint32_t>(message_bits));
  compress_blocks(pending_.data(), 1);

  std::array<std::uint8_t, 32> digest;
  for (std::size_t i = 0; i < state_.size(); ++i) store_be32(digest.data() + 4 * i, state_[i]);
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
