// Digest verification (on by default, --no-verify skips it): a blob must
// hash to the digest its descriptor names, and a layer's uncompressed tar
// to the diffID its config names. A mismatch is a DigestError (exit 5)
// naming the blob.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

#include "util/byte_source.hpp"
#include "util/batched_wake.hpp"
#include "util/sha256.hpp"

namespace undocker::layer {

/// Throws DigestError when sha256(blob) is not `digest` ("sha256:<hex>").
void verify_blob(Bytes blob, std::string_view digest, std::string_view member);

/// Passes a stream through while hashing every byte read from it. Bytes the
/// source can pin (a decoder's chunks) are hashed on a thread of its own,
/// so that the diffID costs the reader nothing; the rest are copied to it,
/// in order.
class HashingSource final : public ByteSource {
 public:
  explicit HashingSource(ByteSource& inner);
  ~HashingSource() override;
  Bytes read_some(std::size_t max_bytes) override { return hashed(inner_.read_some(max_bytes)); }
  Bytes read_exact(std::size_t n) override { return hashed(inner_.read_exact(n)); }
  std::uint64_t position() const override { return inner_.position(); }
  bool stable_views() const override { return inner_.stable_views(); }
  std::shared_ptr<const void> pin_last_read() override { return inner_.pin_last_read(); }
  std::size_t pin_limit_bytes() const override { return inner_.pin_limit_bytes(); }

  /// Reads what the tar reader left (end blocks, padding) and checks the
  /// whole stream against `diff_id`.
  void verify_rest(std::string_view diff_id, std::string_view member);

  /// Reads what the tar reader left and returns the whole stream's digest,
  /// "sha256:<hex>".
  std::string digest_rest();

 private:
  struct Piece {
    Bytes bytes;
    std::shared_ptr<const void> owner;  // a pin, or a copy
    std::size_t copied_bytes = 0;
  };
  Bytes hashed(Bytes bytes);
  void run();
  void hash_queued();

  ByteSource& inner_;
  Sha256 hash_;  // the hashing thread's

  std::mutex mutex_;
  std::condition_variable has_piece_;
  std::condition_variable has_room_;
  std::deque<Piece> queue_;
  std::size_t copied_bytes_queued_ = 0;
  BatchedWake wake_{SIZE_MAX, 2};  // distinct chunks the queued pieces pin
  bool done_ = false;       // hash what is queued, then end
  bool abandoned_ = false;  // end now: the stream was not read to its end
  std::exception_ptr failure_;  // what the hashing thread threw, for the reader
  std::thread thread_;  // last: starts once everything above exists
};

}  // namespace undocker::layer
