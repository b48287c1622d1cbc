#include "layer/blob_hasher.hpp"

#include <algorithm>
#include <chrono>

#include "util/error.hpp"
#include "util/interrupt.hpp"
#include "util/sha256.hpp"

namespace undocker::layer {

namespace {

// Bytes hashed between two looks for a stop (about 2 ms with SHA-NI).
constexpr std::size_t kHashStepBytes = std::size_t{4} << 20;

}  // namespace

BlobHasher::BlobHasher() : thread_([this] { run(); }) {}

BlobHasher::~BlobHasher() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  changed_.notify_all();
  thread_.join();
}

std::size_t BlobHasher::add(Bytes blob) {
  std::size_t job = 0;
  {
    std::lock_guard lock(mutex_);
    job = blobs_.size();
    blobs_.push_back(blob);
  }
  changed_.notify_all();
  return job;
}

void BlobHasher::run() {
  // An exception must never leave a thread: digest() rethrows it.
  try {
    Sha256 hash;
    for (std::size_t job = 0;; ++job) {
      Bytes blob;
      {
        std::unique_lock lock(mutex_);
        changed_.wait(lock, [&] { return stop_ || job < blobs_.size(); });
        if (stop_) return;
        blob = blobs_[job];
      }
      for (std::size_t done = 0; done < blob.size();) {
        const std::size_t step = std::min(kHashStepBytes, blob.size() - done);
        hash.update(blob.subspan(done, step));
        done += step;
        std::lock_guard lock(mutex_);
        if (stop_ || interrupting_signal() != 0) return;
      }
      std::string digest = "sha256:" + to_hex(hash.finish());
      {
        std::lock_guard lock(mutex_);
        digests_.push_back(std::move(digest));
      }
      changed_.notify_all();
    }
  } catch (...) {
    {
      std::lock_guard lock(mutex_);
      failure_ = std::current_exception();
    }
    changed_.notify_all();
  }
}

std::string BlobHasher::digest(std::size_t job) {
  std::unique_lock lock(mutex_);
  for (;;) {
    if (job < digests_.size()) return digests_[job];
    if (failure_) std::rethrow_exception(failure_);
    changed_.wait_for(lock, std::chrono::milliseconds(50));
    lock.unlock();
    check_interrupted();
    lock.lock();
  }
}

}  // namespace undocker::layer
