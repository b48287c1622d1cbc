// A forward-only stream of bytes handed out as views, so that an
// uncompressed layer is read straight from the mapped archive (zero copy)
// and a compressed one from the decompressor's buffer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "util/bytes.hpp"

namespace undocker {

class ByteSource {
 public:
  virtual ~ByteSource() = default;
  ByteSource() = default;
  ByteSource(const ByteSource&) = delete;  // views would dangle
  ByteSource& operator=(const ByteSource&) = delete;

  /// The next 1..max_bytes bytes (max_bytes > 0); empty only at the end of
  /// the stream. The view is valid until the next call.
  virtual Bytes read_some(std::size_t max_bytes) = 0;

  /// Exactly n contiguous bytes, or fewer only at the end of the stream.
  /// Used for 512-byte headers and PAX bodies (n bounded by the caller).
  /// The view is valid until the next call.
  virtual Bytes read_exact(std::size_t n) = 0;

  /// Bytes consumed so far, counted in the (decompressed) stream.
  virtual std::uint64_t position() const = 0;

  /// True when every view stays valid for the whole run (a view of the
  /// mapped archive), so it may be handed to another thread.
  virtual bool stable_views() const { return false; }

  /// A source whose views expire (a decoder's buffers) may still let the
  /// view of the last read_some outlive later reads: the returned handle
  /// keeps its bytes alive while it is held, on any thread. Null when this
  /// source cannot pin. To keep the decoder going, one holder (the reader
  /// itself) pins at most pin_limit_bytes() of consecutive reads at a time;
  /// handles handed to other threads must be released without waiting for
  /// this reader.
  virtual std::shared_ptr<const void> pin_last_read() { return nullptr; }
  virtual std::size_t pin_limit_bytes() const { return 0; }
};

/// A ByteSource over bytes that are already in memory (a mapped member).
class MemorySource final : public ByteSource {
 public:
  explicit MemorySource(Bytes bytes) : bytes_(bytes) {}
  /// Reads from `start` on; positions still count from the start of bytes.
  MemorySource(Bytes bytes, std::size_t start) : bytes_(bytes), position_(start < bytes.size() ? start : bytes.size()) {}
  Bytes read_some(std::size_t max_bytes) override { return take(max_bytes); }
  Bytes read_exact(std::size_t n) override { return take(n); }
  std::uint64_t position() const override { return position_; }
  bool stable_views() const override { return true; }

 private:
  Bytes take(std::size_t n) {
    const std::size_t available = bytes_.size() - position_;
    const std::size_t count = n < available ? n : available;
    Bytes view = bytes_.subspan(position_, count);
    position_ += count;
    return view;
  }
  Bytes bytes_;
  std::size_t position_ = 0;
};

}  // namespace undocker
