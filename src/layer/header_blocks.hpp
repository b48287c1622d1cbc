// The header blocks of one layer, for a walk that reads a block here and
// there (--cat's scan of every header). From the archive's file with
// pread, a window at a time, when the layer's place in the file is known:
// the mapping would fault in (and at exit tear down) a run of pages around
// every header it touches, which costs about twice as much on this
// machine's synthetic image (bench/RESULTS.md, issue 13). Else, or where a
// read fails, from the mapping.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>

#include "util/byte_source.hpp"
#include "util/bytes.hpp"
#include "util/file_range.hpp"

namespace undocker::layer {

class HeaderBlocks {
 public:
  /// window_bytes: how much one pread reads (at least 512).
  HeaderBlocks(Bytes stream, std::optional<FileRange> file, std::size_t window_bytes = kWindowBytes);

  /// The 512 bytes at `offset`, which must lie within the stream; valid
  /// until the next call.
  const std::uint8_t* block(std::uint64_t offset);

  // A few headers of small files share a window; measured against 2, 4
  // and 16 KiB on the synthetic image.
  static constexpr std::size_t kWindowBytes = 8192;

 private:
  Bytes stream_;
  std::optional<FileRange> file_;
  std::size_t window_bytes_;
  std::unique_ptr<std::uint8_t[]> window_;
  std::uint64_t window_begin_ = 0;
  std::uint64_t window_end_ = 0;  // window_ holds [window_begin_, window_end_) of the stream
};

/// A ByteSource over the stream from `start` on (positions count from the
/// stream's start), for TarReader where a header walk meets what only it
/// reads (extension headers): from the file with pread when `file` is
/// given, so the walk still faults in no page of the mapping; else a
/// MemorySource.
std::unique_ptr<ByteSource> open_header_source(Bytes stream, std::optional<FileRange> file, std::uint64_t start);

}  // namespace undocker::layer
