// Paired SHA-256 speed: undocker's Sha256 class against OpenSSL's EVP
// interface called directly, on the same buffer in the piece sizes undocker
// hashes (4 MiB steps of a blob, 2 MiB decoder chunks) and as many small
// one-shot messages (configs, manifests). The two run back to back in each
// round, in alternating order, and each round's time ratio is one pair.
// Throwaway measuring code, not part of the meson build; README.md in this
// directory has the command lines and bench/RESULTS.md the results.
#include <openssl/evp.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "util/sha256.hpp"

namespace {

using Digest = std::array<std::uint8_t, 32>;
using Clock = std::chrono::steady_clock;

struct Shape {
  const char* name;
  std::size_t piece_bytes;  // one update() call
  bool one_message_per_piece;  // a fresh hasher and a digest per piece
  std::size_t total_bytes;
  bool fetch_once;  // OpenSSL side: EVP_MD_fetch once, not EVP_sha256() at each init
};

// Hashes `data` in pieces of the shape; returns a digest of all digests so
// both sides are checked to agree on every message.
Digest hash_ours(const std::vector<std::uint8_t>& data, const Shape& shape) {
  const undocker::Bytes all(data.data(), shape.total_bytes);
  if (!shape.one_message_per_piece) {
    undocker::Sha256 hash;
    for (std::size_t done = 0; done < all.size(); done += shape.piece_bytes) {
      hash.update(all.subspan(done, std::min(shape.piece_bytes, all.size() - done)));
    }
    return hash.finish();
  }
  undocker::Sha256 outer;
  for (std::size_t done = 0; done < all.size(); done += shape.piece_bytes) {
    undocker::Sha256 hash;  // as sha256_hex() does for each small member
    hash.update(all.subspan(done, std::min(shape.piece_bytes, all.size() - done)));
    const Digest digest = hash.finish();
    outer.update(digest);
  }
  return outer.finish();
}

Digest evp_one(EVP_MD_CTX* ctx, const EVP_MD* md, const std::uint8_t* p, std::size_t n) {
  Digest digest;
  unsigned length = 0;
  if (EVP_DigestInit_ex(ctx, md, nullptr) != 1 || EVP_DigestUpdate(ctx, p, n) != 1 ||
      EVP_DigestFinal_ex(ctx, digest.data(), &length) != 1 || length != digest.size()) {
    throw std::runtime_error("EVP SHA-256 failed");
  }
  return digest;
}

Digest hash_evp(const std::vector<std::uint8_t>& data, const Shape& shape) {
  static EVP_MD* const fetched = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  const EVP_MD* md = shape.fetch_once ? fetched : EVP_sha256();
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  if (ctx == nullptr) throw std::runtime_error("EVP_MD_CTX_new failed");
  Digest result;
  unsigned length = 0;
  if (!shape.one_message_per_piece) {
    EVP_DigestInit_ex(ctx, md, nullptr);
    for (std::size_t done = 0; done < shape.total_bytes; done += shape.piece_bytes) {
      EVP_DigestUpdate(ctx, data.data() + done, std::min(shape.piece_bytes, shape.total_bytes - done));
    }
    EVP_DigestFinal_ex(ctx, result.data(), &length);
  } else {
    EVP_MD_CTX* outer = EVP_MD_CTX_new();
    EVP_DigestInit_ex(outer, EVP_sha256(), nullptr);
    for (std::size_t done = 0; done < shape.total_bytes; done += shape.piece_bytes) {
      EVP_MD_CTX* inner = EVP_MD_CTX_new();  // a fresh context per message, as the wrapper would
      const Digest digest = evp_one(inner, md, data.data() + done, std::min(shape.piece_bytes, shape.total_bytes - done));
      EVP_MD_CTX_free(inner);
      EVP_DigestUpdate(outer, digest.data(), digest.size());
    }
    EVP_DigestFinal_ex(outer, result.data(), &length);
    EVP_MD_CTX_free(outer);
  }
  EVP_MD_CTX_free(ctx);
  return result;
}

double seconds_of(const std::function<Digest()>& run, Digest& digest) {
  const Clock::time_point start = Clock::now();
  digest = run();
  return std::chrono::duration<double>(Clock::now() - start).count();
}

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  const std::size_t n = values.size();
  return n % 2 == 1 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
}

std::string load_average() {
  std::ifstream in("/proc/loadavg");
  std::string one, five, fifteen;
  in >> one >> five >> fifteen;
  return one + " " + five + " " + fifteen;
}

}  // namespace

int main(int argc, char** argv) {
  const int rounds = argc > 1 ? std::atoi(argv[1]) : 11;
  const std::size_t mib = argc > 2 ? static_cast<std::size_t>(std::atoll(argv[2])) : 256;
  if (rounds < 1 || mib < 1) {
    std::fprintf(stderr, "usage: measure_sha256 [ROUNDS (11)] [MiB (256)]\n");
    return 2;
  }
  const std::size_t total = mib << 20;
  std::vector<std::uint8_t> data(total);
  std::mt19937_64 random(14);
  for (std::size_t i = 0; i + 8 <= data.size(); i += 8) {
    const std::uint64_t word = random();
    std::copy_n(reinterpret_cast<const std::uint8_t*>(&word), 8, data.data() + i);
  }
  const std::vector<Shape> shapes = {
      {"4 MiB pieces", std::size_t{4} << 20, false, total, false},
      {"2 MiB pieces", std::size_t{2} << 20, false, total, false},
      {"4 KiB messages, EVP_sha256()", std::size_t{4} << 10, true, std::min(total, std::size_t{64} << 20), false},
      {"4 KiB messages, fetched once", std::size_t{4} << 10, true, std::min(total, std::size_t{64} << 20), true},
  };
  std::printf("load average at start: %s\n", load_average().c_str());
  std::printf("%d rounds, %zu MiB; GB/s = 10^9 bytes/s; ratio = OpenSSL time / ours (> 1: ours faster)\n\n", rounds, mib);
  std::printf("| shape | ours GB/s | OpenSSL EVP GB/s | paired ratio, median (min-max) |\n|---|--:|--:|--:|\n");
  for (const Shape& shape : shapes) {
    std::vector<double> ours_s, evp_s, ratios;
    for (int round = 0; round < rounds; ++round) {
      Digest ours_digest, evp_digest;
      const auto run_ours = [&] { return hash_ours(data, shape); };
      const auto run_evp = [&] { return hash_evp(data, shape); };
      double ours = 0, evp = 0;
      if (round % 2 == 0) {
        ours = seconds_of(run_ours, ours_digest);
        evp = seconds_of(run_evp, evp_digest);
      } else {
        evp = seconds_of(run_evp, evp_digest);
        ours = seconds_of(run_ours, ours_digest);
      }
      if (ours_digest != evp_digest) {
        std::fprintf(stderr, "%s: the digests differ\n", shape.name);
        return 1;
      }
      ours_s.push_back(ours);
      evp_s.push_back(evp);
      ratios.push_back(evp / ours);
    }
    const double bytes = static_cast<double>(shape.total_bytes);
    std::printf("| %s | %.2f | %.2f | %.3f (%.3f-%.3f) |\n", shape.name, bytes / median(ours_s) / 1e9,
                bytes / median(evp_s) / 1e9, median(ratios), *std::min_element(ratios.begin(), ratios.end()),
                *std::max_element(ratios.begin(), ratios.end()));
    std::fflush(stdout);
  }
  std::printf("\nload average at end: %s\n", load_average().c_str());
  return 0;
}
