// Bump allocation of small arrays that live as long as the arena: blocks
// of at least 1 MiB that never move, so what was handed out stays where it
// is. A growing std::vector or std::string copies all it holds each time it
// doubles, into fresh pages: for the records of 100,000 headers that was
// most of --cat's page faults (bench/RESULTS.md, issue 13).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <memory>
#include <string_view>
#include <type_traits>
#include <vector>

namespace undocker {

class Arena {
 public:
  /// Room for `count` values of T, uninitialized.
  template <typename T>
  T* allocate(std::size_t count) {
    static_assert(std::is_trivially_copyable_v<T> && alignof(T) <= alignof(std::max_align_t));
    const std::size_t bytes = count * sizeof(T);
    std::size_t at = (used_ + alignof(T) - 1) / alignof(T) * alignof(T);
    if (blocks_.empty() || at + bytes > capacity_) {
      capacity_ = std::max(kBlockBytes, bytes);
      // Not zeroed: a page is touched only when it is written.
      blocks_.push_back(std::make_unique_for_overwrite<std::byte[]>(capacity_));
      at = 0;
    }
    used_ = at + bytes;
    return reinterpret_cast<T*>(blocks_.back().get() + at);
  }

  /// A copy of text that lives as long as the arena.
  std::string_view copy(std::string_view text) {
    char* kept = allocate<char>(text.size());
    if (!text.empty()) std::memcpy(kept, text.data(), text.size());
    return {kept, text.size()};
  }

 private:
  static constexpr std::size_t kBlockBytes = std::size_t{1} << 20;

  std::vector<std::unique_ptr<std::byte[]>> blocks_;
  std::size_t used_ = 0;
  std::size_t capacity_ = 0;
};

}  // namespace undocker
