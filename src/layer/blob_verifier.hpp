// Checks blob digests on a thread of its own while the layers are being
// applied: hashing every byte of a large archive costs as much as writing
// it, and the mapped blobs do not change underneath. A mismatch fails the
// run (exit 5): found while layers are still being applied, it stops the
// pipeline at its next entry (util/interrupt.hpp, request_stop).
//
// Which error is reported when the pipeline fails too: the first. A
// mismatch found before the pipeline failed is reported; otherwise the
// pipeline's error is, with one exception kept on purpose: a failure while
// reading blob B (its message names B first, as every archive error does)
// is replaced by B's own mismatch, because a corrupt blob explains what
// went wrong reading it. To know, B alone is hashed to its end; the blobs
// after it are dropped. A mismatch of any other blob never replaces the
// pipeline's error.
#pragma once

#include <atomic>
#include <cstddef>
#include <exception>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "util/bytes.hpp"

namespace undocker::layer {

class BlobVerifier {
 public:
  BlobVerifier() = default;
  ~BlobVerifier();  // stops the thread (within one hashing step) and drops what is left
  BlobVerifier(const BlobVerifier&) = delete;
  BlobVerifier& operator=(const BlobVerifier&) = delete;

  /// Queues a blob that must hash to every one of `digests` ("sha256:…").
  /// Call before start().
  void add(Bytes blob, std::vector<std::string> digests, std::string member);

  /// Starts hashing the queued blobs, in order, on another thread.
  void start();

  /// Waits for every blob; throws DigestError on the first mismatch (in
  /// queue order), what the thread threw, or Interrupted if a signal
  /// stopped it.
  void finish();

  /// After the pipeline failed with `error`: throws what to report instead
  /// by the rules above (DigestError, or what the thread threw first), or
  /// returns and the caller rethrows `error`. Stops the thread either way.
  void throw_instead_of(const std::exception& error);

  /// Stops the thread within one hashing step, dropping the blobs left.
  void stop();

 private:
  struct Job {
    Bytes blob;
    std::vector<std::string> digests;
    std::string member;
  };
  void run();
  void join();

  std::vector<Job> jobs_;
  // Jobs with an index below this are hashed; lowered to stop early.
  std::atomic<std::size_t> limit_{SIZE_MAX};
  std::atomic<bool> failed_{false};  // a mismatch, or the thread threw
  // Written by the thread, read after join():
  std::optional<std::string> mismatch_;
  std::size_t mismatch_index_ = 0;
  std::exception_ptr failure_;
  bool completed_ = false;  // every job hashed
  std::thread thread_;
};

}  // namespace undocker::layer
