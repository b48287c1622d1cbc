// A single-producer, single-consumer hand-over of fixed-size chunks. The
// decoder thread takes a free chunk, fills it and queues it; the reader
// hands out views into the chunk at the front and returns it to the free
// list on its next call, when those views expire. Each side waits on its
// own condition variable, so neither busy-waits.
#include "layer/read_ahead.hpp"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <deque>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace undocker::layer {

namespace {

// The decoder fills a chunk in steps this size and checks between them
// whether the reader has gone: a bomb's chunk still ends in about a
// millisecond.
constexpr std::size_t kFillStepBytes = std::size_t{1} << 20;

class ReadAheadSource final : public ByteSource {
 public:
  ReadAheadSource(std::unique_ptr<Decoder> decoder, ReadAheadShape shape)
      : decoder_(std::move(decoder)), chunk_bytes_(std::max<std::size_t>(shape.chunk_bytes, 1)) {
    // Allocated by the decoder thread on first use: a small layer uses one.
    free_.resize(std::max<std::size_t>(shape.chunk_count, 1));
    thread_ = std::thread([this] { run_decoder(); });
  }

  ~ReadAheadSource() override {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
    }
    chunk_free_.notify_one();
    thread_.join();
  }

  Bytes read_some(std::size_t max_bytes) override {
    if (unread() == 0 && !next_chunk()) return {};
    return take(max_bytes);
  }

  Bytes read_exact(std::size_t n) override {
    if (unread() >= n) return take(n);
    // Spans chunks: gather into the scratch buffer (callers bound n, see
    // util/limits.hpp).
    if (scratch_.size() < n) scratch_.resize(n);
    std::size_t gathered = 0;
    while (gathered < n && (unread() > 0 || next_chunk())) {
      const Bytes piece = take(n - gathered);
      std::memcpy(scratch_.data() + gathered, piece.data(), piece.size());
      gathered += piece.size();
    }
    return Bytes(scratch_.data(), gathered);
  }

  std::uint64_t position() const override { return position_; }

 private:
  struct Chunk {
    std::unique_ptr<std::uint8_t[]> bytes;
    std::size_t size_bytes = 0;
  };

  // The decoder thread. Any exception is handed over, not handled: the
  // reader rethrows it after the bytes decoded before it.
  void run_decoder() {
    for (;;) {
      Chunk chunk;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        chunk_free_.wait(lock, [this] { return stopping_ || !free_.empty(); });
        if (stopping_) return;
        chunk = std::move(free_.back());
        free_.pop_back();
      }
      std::exception_ptr error;
      try {
        if (chunk.bytes == nullptr) chunk.bytes.reset(new std::uint8_t[chunk_bytes_]);  // not zeroed
        chunk.size_bytes = 0;
        while (chunk.size_bytes < chunk_bytes_ && !decoder_->finished() && !stopping_) {
          const std::size_t step = std::min(kFillStepBytes, chunk_bytes_ - chunk.size_bytes);
          chunk.size_bytes += decoder_->fill(chunk.bytes.get() + chunk.size_bytes, step);
        }
      } catch (...) {
        error = std::current_exception();
      }
      const bool done = error != nullptr || decoder_->finished();
      {
        std::lock_guard<std::mutex> lock(mutex_);
        if (chunk.size_bytes > 0) {
          ready_.push_back(std::move(chunk));
        } else {
          free_.push_back(std::move(chunk));
        }
        decoder_done_ = done;
        decoder_error_ = error;
      }
      chunk_ready_.notify_one();
      if (done) return;
    }
  }

  // Returns the current chunk to the decoder and waits for the next one;
  // false at the end of the stream, or throws the decoder's error.
  bool next_chunk() {
    std::unique_lock<std::mutex> lock(mutex_);
    if (current_.bytes != nullptr) {
      free_.push_back(std::move(current_));
      chunk_free_.notify_one();
    }
    current_ = Chunk{};
    current_offset_ = 0;
    chunk_ready_.wait(lock, [this] { return !ready_.empty() || decoder_done_; });
    if (!ready_.empty()) {
      current_ = std::move(ready_.front());
      ready_.pop_front();
      return true;
    }
    if (decoder_error_ != nullptr) std::rethrow_exception(decoder_error_);
    return false;
  }

  std::size_t unread() const { return current_.size_bytes - current_offset_; }

  Bytes take(std::size_t n) {
    const std::size_t count = std::min(n, unread());
    const Bytes view(current_.bytes.get() + current_offset_, count);
    current_offset_ += count;
    position_ += count;
    return view;
  }

  std::unique_ptr<Decoder> decoder_;  // used by the decoder thread only
  const std::size_t chunk_bytes_;

  std::mutex mutex_;
  std::condition_variable chunk_ready_;  // decoder → reader
  std::condition_variable chunk_free_;   // reader → decoder
  std::deque<Chunk> ready_;              // filled, in stream order
  std::vector<Chunk> free_;
  bool decoder_done_ = false;
  std::exception_ptr decoder_error_;
  std::atomic<bool> stopping_ = false;  // also read between fill steps, unlocked

  // The reader's side, touched by the reader only.
  Chunk current_;
  std::size_t current_offset_ = 0;
  std::vector<std::uint8_t> scratch_;
  std::uint64_t position_ = 0;

  std::thread thread_;  // last: starts once everything above exists
};

}  // namespace

std::unique_ptr<ByteSource> open_read_ahead_source(std::unique_ptr<Decoder> decoder, ReadAheadShape shape) {
  return std::make_unique<ReadAheadSource>(std::move(decoder), shape);
}

}  // namespace undocker::layer
