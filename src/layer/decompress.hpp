// Layer blobs come uncompressed, gzip'd or zstd'd, and the media type is not
// trusted to say which: the magic bytes decide. Compressed layers are
// streamed through bounded buffers, so a decompression bomb costs time,
// never memory.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "util/byte_source.hpp"
#include "util/bytes.hpp"

namespace undocker::layer {

enum class Compression { kNone, kGzip, kZstd };

/// gzip (1f 8b), zstd (28 b5 2f fd, or a skippable frame 5? 2a 4d 18), else
/// none. Looks at the magic bytes only.
Compression detect_compression(Bytes blob);

/// "none", "gzip" or "zstd".
std::string_view compression_name(Compression compression);

/// The blob's contents as a stream: the blob itself (zero copy) when it is
/// not compressed, else a decompressing source over it. Concatenated gzip
/// members and zstd frames read as one stream; zero bytes after the last one
/// are ignored. Corrupt, truncated or trailing data throws FormatError
/// naming `member_name` ("<member>: gzip stream ends early"), from the read
/// that reaches the bad spot. The blob must outlive the source.
///
/// A compressed blob over 1 MiB is decoded on a thread of its own, a few
/// MiB ahead of the reader (layer/read_ahead.hpp). gzip is inflated with
/// isa-l when undocker is built with it. For measuring and for tests, the
/// environment can turn both off: UNDOCKER_READ_AHEAD=0 decodes inline,
/// UNDOCKER_INFLATE=zlib inflates with zlib.
///
/// `on_decoded`: see open_read_ahead_source; never called when the blob is
/// decoded inline or not compressed.
std::unique_ptr<ByteSource> open_decompressed(Bytes blob, std::string member_name,
                                              std::function<void()> on_decoded = nullptr);

/// One compressed stream being decoded: the format-specific half of a
/// decompressing source, which owns the buffering. Used by one thread at a
/// time.
class Decoder {
 public:
  explicit Decoder(std::string member_name) : member_name_(std::move(member_name)) {}
  virtual ~Decoder() = default;
  Decoder(const Decoder&) = delete;
  Decoder& operator=(const Decoder&) = delete;

  /// Writes up to `capacity` (> 0) decompressed bytes to `out` and returns
  /// how many: at least one unless finished(). Throws FormatError for
  /// corrupt, truncated or trailing data; the bytes of that call are lost.
  virtual std::size_t fill(std::uint8_t* out, std::size_t capacity) = 0;

  /// True once the last member or frame has been decoded and checked.
  bool finished() const { return finished_; }

 protected:
  [[noreturn]] void fail(std::string_view problem) const;

  /// After a member or frame ends at `offset`: true when nothing but zero
  /// padding follows, false when another member or frame starts there;
  /// throws for anything else.
  bool at_end_of_stream(Bytes blob, std::size_t offset, std::string_view format, bool next_starts) const;

  bool finished_ = false;

 private:
  std::string member_name_;
};

/// The decoder for a compressed blob (see open_decompressed for the choice
/// of gzip inflater); nullptr when the blob is not compressed.
std::unique_ptr<Decoder> open_decoder(Bytes blob, std::string member_name);

bool starts_with_gzip_magic(Bytes bytes);

}  // namespace undocker::layer
