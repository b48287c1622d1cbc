// A single-producer, single-consumer hand-over of fixed-size chunks. The
// decoder thread takes a free buffer, fills it and queues it as a chunk;
// the reader hands out views into the chunk at the front. A chunk is
// reference-counted: the reader drops it when it moves on, files pin it
// until they are written, and the last owner returns its buffer to the
// free list. Each side waits on its own condition variable, so neither
// busy-waits.
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

#include "util/thread_name.hpp"

namespace undocker::layer {

namespace {

// The decoder fills a chunk in steps this size and checks between them
// whether the reader has gone: a bomb's chunk still ends in about a
// millisecond.
constexpr std::size_t kFillStepBytes = std::size_t{1} << 20;

using Buffer = std::unique_ptr<std::uint8_t[]>;

// Chunks pinned while the decoder waits for a buffer, at most: the
// reader's own (2, for an entry that spans two), those of files queued for
// a sleeping file worker (3: they are woken every 2 distinct chunks) and of
// pieces queued for the sleeping diffID hasher (3, likewise). Every other
// pin is held by a thread that is running and will let go. One more is
// the decoder's.
constexpr std::size_t kMinChunks = 2 + 3 + 3 + 1;

// What the decoder thread, the reader and every pinned chunk share.
struct SharedState {
  std::mutex mutex;
  std::condition_variable chunk_ready;  // decoder → reader
  std::condition_variable buffer_free;  // reader, pins → decoder
  std::vector<Buffer> free_buffers;
  std::size_t buffers_allocated = 0;
  std::size_t chunks_ahead = 0;  // queued in `ready`, not yet taken by the reader
  bool stopping = false;
};

// Decoded bytes in a buffer; gives the buffer back when the last owner
// (the reader or a pin) lets go. Never destroyed under state.mutex.
class Chunk {
 public:
  Chunk(Buffer buffer, std::size_t size_bytes, std::weak_ptr<SharedState> state)
      : buffer_(std::move(buffer)), size_bytes_(size_bytes), state_(std::move(state)) {}
  ~Chunk() {
    if (const std::shared_ptr<SharedState> state = state_.lock()) {
      {
        std::lock_guard lock(state->mutex);
        state->free_buffers.push_back(std::move(buffer_));
      }
      state->buffer_free.notify_one();
    }
  }
  Chunk(const Chunk&) = delete;
  Chunk& operator=(const Chunk&) = delete;

  const std::uint8_t* data() const { return buffer_.get(); }
  std::size_t size_bytes() const { return size_bytes_; }

 private:
  Buffer buffer_;
  std::size_t size_bytes_;
  std::weak_ptr<SharedState> state_;
};

class ReadAheadSource final : public ByteSource {
 public:
  ReadAheadSource(std::unique_ptr<Decoder> decoder, ReadAheadShape shape, std::function<void()> on_decoded)
      : decoder_(std::move(decoder)),
        on_decoded_(std::move(on_decoded)),
        chunk_bytes_(std::max<std::size_t>(shape.chunk_bytes, 1)),
        chunks_ahead_(std::max<std::size_t>(shape.chunks_ahead, 1)),
        max_chunks_(std::max<std::size_t>(shape.max_chunks, kMinChunks)),
        state_(std::make_shared<SharedState>()) {
    thread_ = std::thread([this] { run_decoder(); });
  }

  ~ReadAheadSource() override {
    {
      std::lock_guard lock(state_->mutex);
      state_->stopping = true;
    }
    state_->buffer_free.notify_all();
    thread_.join();
    // Chunks give their buffers back under the mutex: drop them outside it.
    std::deque<std::shared_ptr<Chunk>> ready;
    {
      std::lock_guard lock(state_->mutex);
      ready.swap(ready_);
    }
  }

  Bytes read_some(std::size_t max_bytes) override {
    if (unread() == 0 && !next_chunk()) return {};
    last_read_pinnable_ = true;
    return take(max_bytes);
  }

  Bytes read_exact(std::size_t n) override {
    if (unread() >= n) {
      last_read_pinnable_ = true;
      return take(n);
    }
    // Spans chunks: gather into the scratch buffer (callers bound n, see
    // util/limits.hpp).
    last_read_pinnable_ = false;
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

  std::shared_ptr<const void> pin_last_read() override {
    return last_read_pinnable_ ? std::shared_ptr<const void>(current_) : nullptr;
  }
  std::size_t pin_limit_bytes() const override { return chunk_bytes_; }

 private:
  // Waits for a buffer to fill (allocating one while under max_chunks);
  // null when the reader has gone.
  Buffer take_free_buffer() {
    std::unique_lock lock(state_->mutex);
    state_->buffer_free.wait(lock, [this] {
      return state_->stopping || (state_->chunks_ahead < chunks_ahead_ &&
                                  (!state_->free_buffers.empty() || state_->buffers_allocated < max_chunks_));
    });
    if (state_->stopping) return nullptr;
    if (!state_->free_buffers.empty()) {
      Buffer buffer = std::move(state_->free_buffers.back());
      state_->free_buffers.pop_back();
      return buffer;
    }
    ++state_->buffers_allocated;
    lock.unlock();
    return Buffer(new std::uint8_t[chunk_bytes_]);  // not zeroed
  }

  // The decoder thread. Any exception (the decoder's FormatError, and
  // std::bad_alloc or std::system_error from anywhere here) is handed over,
  // not handled: the reader rethrows it after the bytes decoded before it.
  // None may leave the thread (std::terminate, no ERROR line).
  void run_decoder() {
    name_this_thread("undocker-decode");
    for (;;) {
      std::size_t size_bytes = 0;
      std::exception_ptr error;
      bool done = false;
      try {
        Buffer buffer = take_free_buffer();
        if (buffer == nullptr) return;
        try {
          while (size_bytes < chunk_bytes_ && !decoder_->finished() && !stopping()) {
            const std::size_t step = std::min(kFillStepBytes, chunk_bytes_ - size_bytes);
            size_bytes += decoder_->fill(buffer.get() + size_bytes, step);
          }
        } catch (...) {
          error = std::current_exception();
        }
        done = error != nullptr || decoder_->finished();
        std::shared_ptr<Chunk> chunk;
        if (size_bytes > 0) chunk = std::make_shared<Chunk>(std::move(buffer), size_bytes, state_);
        std::lock_guard lock(state_->mutex);
        if (chunk != nullptr) {
          ready_.push_back(std::move(chunk));
          ++state_->chunks_ahead;
        } else {
          state_->free_buffers.push_back(std::move(buffer));
        }
        decoder_done_ = done;
        decoder_error_ = error;
      } catch (...) {
        // Out of memory handing over: the reader gets that instead.
        std::lock_guard lock(state_->mutex);
        decoder_done_ = done = true;
        decoder_error_ = std::current_exception();
      }
      state_->chunk_ready.notify_one();
      if (done) {
        // Its window and tables (zstd's are megabytes) are not needed any
        // more: freed before the next layer's decoder starts.
        decoder_.reset();
        if (error == nullptr && on_decoded_) on_decoded_();
        return;
      }
    }
  }

  bool stopping() {
    std::lock_guard lock(state_->mutex);
    return state_->stopping;
  }

  // Lets go of the current chunk and waits for the next one; false at the
  // end of the stream, or throws the decoder's error.
  bool next_chunk() {
    current_.reset();  // returns its buffer unless a file pinned it
    current_offset_ = 0;
    std::unique_lock lock(state_->mutex);
    state_->chunk_ready.wait(lock, [this] { return !ready_.empty() || decoder_done_; });
    if (!ready_.empty()) {
      current_ = std::move(ready_.front());
      ready_.pop_front();
      --state_->chunks_ahead;
      lock.unlock();
      state_->buffer_free.notify_one();
      return true;
    }
    if (decoder_error_ != nullptr) std::rethrow_exception(decoder_error_);
    return false;
  }

  std::size_t unread() const { return current_ ? current_->size_bytes() - current_offset_ : 0; }

  Bytes take(std::size_t n) {
    const std::size_t count = std::min(n, unread());
    const Bytes view(current_->data() + current_offset_, count);
    current_offset_ += count;
    position_ += count;
    return view;
  }

  std::unique_ptr<Decoder> decoder_;  // used by the decoder thread only
  std::function<void()> on_decoded_;  // called by the decoder thread
  const std::size_t chunk_bytes_;
  const std::size_t chunks_ahead_;
  const std::size_t max_chunks_;

  std::shared_ptr<SharedState> state_;
  // Under state_->mutex:
  std::deque<std::shared_ptr<Chunk>> ready_;  // filled, in stream order
  bool decoder_done_ = false;
  std::exception_ptr decoder_error_;

  // The reader's side, touched by the reader only.
  std::shared_ptr<Chunk> current_;
  std::size_t current_offset_ = 0;
  bool last_read_pinnable_ = false;
  std::vector<std::uint8_t> scratch_;
  std::uint64_t position_ = 0;

  std::thread thread_;  // last: starts once everything above exists
};

}  // namespace

std::unique_ptr<ByteSource> open_read_ahead_source(std::unique_ptr<Decoder> decoder, ReadAheadShape shape,
                                                   std::function<void()> on_decoded) {
  return std::make_unique<ReadAheadSource>(std::move(decoder), shape, std::move(on_decoded));
}

}  // namespace undocker::layer
