// Arithmetic on untrusted numbers. Never compute offset + size before
// knowing it cannot overflow or run past the end.
#pragma once

#include <cstdint>
#include <optional>

namespace undocker {

/// True when [offset, offset + size) lies within [0, total).
constexpr bool fits(std::uint64_t offset, std::uint64_t size, std::uint64_t total) {
  return offset <= total && size <= total - offset;
}

/// a + b, or nullopt on overflow.
constexpr std::optional<std::uint64_t> checked_add(std::uint64_t a, std::uint64_t b) {
  if (b > UINT64_MAX - a) return std::nullopt;
  return a + b;
}

/// n rounded up to a multiple of the 512-byte tar block, or nullopt on overflow.
constexpr std::optional<std::uint64_t> round_up_block(std::uint64_t n) {
  if (n > UINT64_MAX - 511) return std::nullopt;
  return (n + 511) & ~std::uint64_t{511};
}

}  // namespace undocker
