// A read-only view of bytes: a slice of the mapped archive or of a
// decompression buffer. Never owns what it points at.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace undocker {

using Bytes = std::span<const std::uint8_t>;

inline std::string_view as_chars(Bytes bytes) {
  return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

inline Bytes as_bytes(std::string_view text) {
  return {reinterpret_cast<const std::uint8_t*>(text.data()), text.size()};
}

}  // namespace undocker
