// Checks blob digests on a thread of its own while the layers are being
// applied: hashing every byte of a large archive costs as much as writing
// it, and the mapped blobs do not change underneath. A mismatch therefore
// surfaces after the tree is written, and still fails the run (exit 5).
#pragma once

#include <atomic>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "util/bytes.hpp"

namespace undocker::layer {

class BlobVerifier {
 public:
  BlobVerifier() = default;
  ~BlobVerifier();
  BlobVerifier(const BlobVerifier&) = delete;
  BlobVerifier& operator=(const BlobVerifier&) = delete;

  /// Queues a blob that must hash to every one of `digests` ("sha256:…").
  /// Call before start().
  void add(Bytes blob, std::vector<std::string> digests, std::string member);

  /// Starts hashing the queued blobs, in order, on another thread.
  void start();

  /// Waits for every blob; the first mismatch (in queue order), if any,
  /// as a message naming the blob.
  std::optional<std::string> wait();

  /// wait(), throwing DigestError on a mismatch.
  void finish();

 private:
  struct Job {
    Bytes blob;
    std::vector<std::string> digests;
    std::string member;
  };
  void run();

  std::vector<Job> jobs_;
  std::optional<std::string> mismatch_;
  std::thread thread_;
};

}  // namespace undocker::layer
