// Decoding a compressed layer on a thread of its own, a few chunks ahead of
// the reader, so that inflate overlaps the tar reader and the file writes.
// Memory stays bounded: chunk_count chunks of chunk_bytes, plus one scratch
// buffer as large as the largest read_exact that spans two chunks.
#pragma once

#include <cstddef>
#include <memory>

#include "layer/byte_source.hpp"
#include "layer/decompress.hpp"

namespace undocker::layer {

struct ReadAheadShape {
  // 4 MiB: a decoder thread's turn lasts a few milliseconds, long against
  // the cost of a hand-over; 3 chunks: one being read, one ready, one being
  // filled.
  std::size_t chunk_bytes = std::size_t{4} << 20;
  std::size_t chunk_count = 3;
};

/// A ByteSource whose bytes `decoder` produces on another thread. The
/// decoder's FormatError is thrown by the read that reaches the point where
/// it failed, after every byte decoded before it. Destroying the source
/// stops the thread (within one fill step) and joins it.
std::unique_ptr<ByteSource> open_read_ahead_source(std::unique_ptr<Decoder> decoder, ReadAheadShape shape = {});

}  // namespace undocker::layer
