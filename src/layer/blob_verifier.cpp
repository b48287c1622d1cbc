#include "layer/blob_verifier.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "util/error.hpp"
#include "util/interrupt.hpp"
#include "util/log.hpp"
#include "util/sha256.hpp"
#include "util/thread_name.hpp"

namespace undocker::layer {

namespace {

// Bytes hashed between two looks at the stop conditions: about 2 ms with
// SHA-NI (libcrypto's), 10 ms on a CPU without SHA extensions.
constexpr std::size_t kHashStepBytes = std::size_t{4} << 20;

}  // namespace

BlobVerifier::~BlobVerifier() { stop(); }

void BlobVerifier::add(Bytes blob, std::vector<std::string> digests, std::string member) {
  jobs_.push_back(Job{blob, std::move(digests), std::move(member)});
}

void BlobVerifier::start() {
  if (!jobs_.empty()) thread_ = std::thread([this] { run(); });
}

void BlobVerifier::run() {
  name_this_thread("undocker-blobs");
  // Anything thrown here (std::bad_alloc too) is handed to finish(): an
  // exception must never leave a thread.
  try {
    Sha256 hash;
    for (std::size_t index = 0; index < jobs_.size(); ++index) {
      const Job& job = jobs_[index];
      for (std::size_t done = 0; done < job.blob.size();) {
        if (index >= limit_.load(std::memory_order_relaxed) || interrupting_signal() != 0) return;
        const std::size_t step = std::min(kHashStepBytes, job.blob.size() - done);
        hash.update(job.blob.subspan(done, step));
        done += step;
      }
      if (index >= limit_.load(std::memory_order_relaxed)) return;
      const std::string actual = "sha256:" + to_hex(hash.finish());
      for (const std::string& expected : job.digests) {
        if (expected == actual) continue;
        mismatch_ = expected.starts_with("sha256:")
                        ? fmt::format("{}: digest mismatch: expected {}, got {}", escape(job.member), escape(expected), actual)
                        : fmt::format("{}: unsupported digest algorithm in {}", escape(job.member), escape(expected));
        mismatch_index_ = index;
        failed_.store(true);
        request_stop();  // the pipeline stops at its next entry
        return;
      }
    }
    completed_ = true;
  } catch (...) {
    failure_ = std::current_exception();
    failed_.store(true);
    request_stop();
  }
}

void BlobVerifier::join() {
  if (thread_.joinable()) thread_.join();
  clear_stop_request();
}

void BlobVerifier::stop() {
  limit_.store(0);
  join();
}

void BlobVerifier::finish() {
  join();
  if (failure_) std::rethrow_exception(failure_);
  if (mismatch_) throw DigestError(*mismatch_);
  if (!completed_ && !jobs_.empty()) {
    check_interrupted();  // a signal stopped it
    throw IoError("blob digests were not all checked");  // cannot happen: nothing else stops it
  }
}

void BlobVerifier::throw_instead_of(const std::exception& error) {
  if (failed_.load()) {
    // Found first: it is the error (and perhaps why the pipeline stopped).
    join();
    if (failure_) std::rethrow_exception(failure_);
    if (mismatch_) throw DigestError(*mismatch_);
  }
  // The blob the failure names, if it is one of ours: "MEMBER: …".
  const std::string_view message = error.what();
  std::optional<std::size_t> named;
  for (std::size_t index = 0; index < jobs_.size(); ++index) {
    const std::string prefix = escape(jobs_[index].member) + ": ";
    if (message.starts_with(prefix)) named = index;
  }
  if (!named || dynamic_cast<const Interrupted*>(&error) != nullptr) {
    stop();
    return;
  }
  std::size_t limit = limit_.load();
  while (*named + 1 < limit && !limit_.compare_exchange_weak(limit, *named + 1)) {
  }
  join();
  if (mismatch_ && mismatch_index_ == *named) throw DigestError(*mismatch_);
}

}  // namespace undocker::layer
