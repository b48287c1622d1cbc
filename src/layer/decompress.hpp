// Layer blobs come uncompressed, gzip'd or zstd'd, and the media type is not
// trusted to say which: the magic bytes decide. Compressed layers are
// streamed through a bounded buffer, so a decompression bomb costs time,
// never memory.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "layer/byte_source.hpp"
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
/// naming `member_name` ("<member>: gzip stream ends early"). The blob must
/// outlive the source.
std::unique_ptr<ByteSource> open_decompressed(Bytes blob, std::string member_name);

}  // namespace undocker::layer
