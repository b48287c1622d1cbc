// SHA-256 of blobs whose expected digests are not known yet: the layers a
// pipe delivers before its manifest (pipeline/speculation.hpp) are hashed
// on a thread of their own while they are applied, and compared once the
// manifest names them.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <exception>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "util/bytes.hpp"

namespace undocker::layer {

class BlobHasher {
 public:
  BlobHasher();
  ~BlobHasher();  // stops within one hashing step; what is left is dropped
  BlobHasher(const BlobHasher&) = delete;
  BlobHasher& operator=(const BlobHasher&) = delete;

  /// Queues blob (which must stay mapped until digest() or destruction);
  /// returns its number for digest().
  std::size_t add(Bytes blob);

  /// "sha256:<hex>" of blob number `job`, waiting for it; throws what the
  /// thread threw, or Interrupted on a signal.
  std::string digest(std::size_t job);

 private:
  void run();

  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<Bytes> blobs_;
  std::vector<std::string> digests_;  // one per blob hashed so far
  bool stop_ = false;
  std::exception_ptr failure_;
  std::thread thread_;  // last: starts once everything above exists
};

}  // namespace undocker::layer
