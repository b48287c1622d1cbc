#include "layer/verify.hpp"

#include <vector>

#include <fmt/format.h>

#include "util/error.hpp"
#include "util/log.hpp"
#include "util/thread_name.hpp"

namespace undocker::layer {

namespace {

void compare(std::string_view expected, const std::string& actual_hex, std::string_view member, std::string_view what) {
  const std::string actual = "sha256:" + actual_hex;
  if (!expected.starts_with("sha256:")) {
    throw FormatError(fmt::format("{}: unsupported digest algorithm in {}", escape(member), escape(expected)));
  }
  if (expected != actual) {
    throw DigestError(fmt::format("{}: {} mismatch: expected {}, got {}", escape(member), what, escape(expected), actual));
  }
}

}  // namespace

void verify_blob(Bytes blob, std::string_view digest, std::string_view member) {
  compare(digest, sha256_hex(blob), member, "digest");
}

namespace {

// Copies (of views that could not be pinned) waiting for the hashing
// thread: beyond this the reader waits, so memory stays bounded.
constexpr std::size_t kMaxCopiedBytesQueued = std::size_t{8} << 20;

}  // namespace

HashingSource::HashingSource(ByteSource& inner) : inner_(inner), thread_([this] { run(); }) {}

HashingSource::~HashingSource() {
  if (!thread_.joinable()) return;
  {
    // Not read to the end (the run failed): what is queued is dropped.
    std::lock_guard lock(mutex_);
    abandoned_ = true;
  }
  has_piece_.notify_one();
  thread_.join();
}

Bytes HashingSource::hashed(Bytes bytes) {
  if (bytes.empty()) return bytes;
  Piece piece{bytes, inner_.pin_last_read()};
  std::unique_lock lock(mutex_);
  if (piece.owner == nullptr) {
    has_room_.wait(lock, [this] { return copied_bytes_queued_ < kMaxCopiedBytesQueued || failure_; });
    if (failure_) std::rethrow_exception(failure_);
    auto copy = std::make_shared<std::vector<std::uint8_t>>(bytes.begin(), bytes.end());
    piece = Piece{Bytes(copy->data(), copy->size()), copy, bytes.size()};
    copied_bytes_queued_ += bytes.size();
  }
  // Woken every 2 distinct chunks (util/batched_wake.hpp), and at once for
  // a copy, which pins nothing but is bounded on its own.
  const bool copied = piece.copied_bytes > 0;
  const bool wake = wake_.add({copied ? nullptr : piece.owner.get()}) || copied;
  queue_.push_back(std::move(piece));
  lock.unlock();
  if (wake) has_piece_.notify_one();
  return bytes;
}

void HashingSource::run() {
  name_this_thread("undocker-diffid");
  // Nothing here throws today; should anything, the reader gets it (an
  // exception must never leave a thread).
  try {
    hash_queued();
  } catch (...) {
    {
      std::lock_guard lock(mutex_);
      failure_ = std::current_exception();
    }
    has_room_.notify_all();
  }
}

void HashingSource::hash_queued() {
  for (;;) {
    std::unique_lock lock(mutex_);
    has_piece_.wait(lock, [this] { return done_ || abandoned_ || !queue_.empty(); });
    if (abandoned_ || queue_.empty()) return;
    // Everything queued so far, hashed without holding the lock.
    std::deque<Piece> batch;
    batch.swap(queue_);
    lock.unlock();
    std::size_t copied_bytes = 0;
    for (const Piece& piece : batch) {
      hash_.update(piece.bytes);
      copied_bytes += piece.copied_bytes;
    }
    batch.clear();  // lets the decoder reuse the chunks
    if (copied_bytes > 0) {
      {
        std::lock_guard room_lock(mutex_);
        copied_bytes_queued_ -= copied_bytes;
      }
      has_room_.notify_one();
    }
  }
}

void HashingSource::verify_rest(std::string_view diff_id, std::string_view member) {
  const std::string actual = digest_rest();
  compare(diff_id, actual.substr(std::string_view("sha256:").size()), member, "diffID");
}

std::string HashingSource::digest_rest() {
  while (!read_some(std::size_t{1} << 20).empty()) {
  }
  {
    std::lock_guard lock(mutex_);
    done_ = true;
  }
  has_piece_.notify_one();
  thread_.join();
  thread_ = std::thread();
  if (failure_) std::rethrow_exception(failure_);
  return "sha256:" + to_hex(hash_.finish());
}

}  // namespace undocker::layer
