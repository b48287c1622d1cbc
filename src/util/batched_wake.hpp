// When to wake a consumer thread that sleeps while its queue is empty.
// Waking it for every item costs more in context switches than small items
// take to handle, so it is woken every few items; but the items queued
// while it sleeps may pin decoder chunks (layer/read_ahead.hpp), which the
// decoder needs back, so it is also woken every couple of distinct chunks.
// Not thread-safe: call under the queue's lock.
#pragma once

#include <cstddef>
#include <initializer_list>

namespace undocker {

class BatchedWake {
 public:
  BatchedWake(std::size_t max_items, std::size_t max_chunks) : max_items_(max_items), max_chunks_(max_chunks) {}

  /// One item queued, pinning `chunks` (null: none). True: wake the
  /// consumer now; the counts start again.
  bool add(std::initializer_list<const void*> chunks) {
    ++items_;
    for (const void* chunk : chunks) {
      if (chunk != nullptr && chunk != last_chunk_) {
        last_chunk_ = chunk;
        ++chunks_;
      }
    }
    if (items_ < max_items_ && chunks_ < max_chunks_) return false;
    items_ = chunks_ = 0;
    return true;
  }

 private:
  const std::size_t max_items_;
  const std::size_t max_chunks_;
  std::size_t items_ = 0;   // since the last wake
  std::size_t chunks_ = 0;  // distinct chunks pinned since the last wake
  const void* last_chunk_ = nullptr;
};

}  // namespace undocker
