#include "layer/blob_verifier.hpp"

#include <fmt/format.h>

#include "util/error.hpp"
#include "util/log.hpp"
#include "util/sha256.hpp"

namespace undocker::layer {

BlobVerifier::~BlobVerifier() {
  if (thread_.joinable()) thread_.join();
}

void BlobVerifier::add(Bytes blob, std::vector<std::string> digests, std::string member) {
  jobs_.push_back(Job{blob, std::move(digests), std::move(member)});
}

void BlobVerifier::start() {
  if (!jobs_.empty()) thread_ = std::thread([this] { run(); });
}

void BlobVerifier::run() {
  for (const Job& job : jobs_) {
    const std::string actual = "sha256:" + sha256_hex(job.blob);
    for (const std::string& expected : job.digests) {
      if (expected == actual) continue;
      mismatch_ = expected.starts_with("sha256:")
                      ? fmt::format("{}: digest mismatch: expected {}, got {}", escape(job.member), escape(expected), actual)
                      : fmt::format("{}: unsupported digest algorithm in {}", escape(job.member), escape(expected));
      return;
    }
  }
}

std::optional<std::string> BlobVerifier::wait() {
  if (thread_.joinable()) thread_.join();
  return mismatch_;
}

void BlobVerifier::finish() {
  if (std::optional<std::string> mismatch = wait()) throw DigestError(*mismatch);
}

}  // namespace undocker::layer
