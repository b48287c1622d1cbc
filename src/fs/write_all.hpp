// Writing a whole piece of a file's data at its offset, a MiB at a time, so
// that a stop (a signal, a failed run) is noticed between pieces.
#pragma once

#include <cstdint>
#include <functional>
#include <string_view>

#include "util/bytes.hpp"

namespace undocker::fs {

/// Writes all of `bytes` at `offset` of fd. before_piece runs before each
/// MiB and may throw to stop. A failure names clean_path (fs::fail).
void write_all_at(int fd, Bytes bytes, std::uint64_t offset, std::string_view clean_path,
                  const std::function<void()>& before_piece);

}  // namespace undocker::fs
