// Decoding a compressed layer on a thread of its own, a few chunks ahead of
// the reader, so that inflate overlaps the tar reader and the file writes.
// A chunk can be pinned (ByteSource::pin_last_read): a small file's data is
// then handed to the file workers without a copy, and the chunk goes back
// to the decoder when the last file in it is written.
// Memory stays bounded: at most max_chunks chunks of chunk_bytes, plus one
// scratch buffer as large as the largest read_exact that spans two chunks.
#pragma once

#include <cstddef>
#include <memory>

#include "util/byte_source.hpp"
#include "layer/decompress.hpp"

namespace undocker::layer {

struct ReadAheadShape {
  // 2 MiB: a decoder thread's turn lasts a few milliseconds, long against
  // the cost of a hand-over, and a file that fits in one chunk can be
  // pinned (pin_limit_bytes).
  std::size_t chunk_bytes = std::size_t{2} << 20;
  // Decoded and not yet reached by the reader: one ready, one being filled.
  std::size_t chunks_ahead = 3;
  // Ahead, being read, and pinned by files waiting for a worker or bytes
  // waiting for the diffID hasher: 24 MiB. At least 9 (read_ahead.cpp).
  std::size_t max_chunks = 12;
};

/// A ByteSource whose bytes `decoder` produces on another thread. The
/// decoder's FormatError is thrown by the read that reaches the point where
/// it failed, after every byte decoded before it. Destroying the source
/// stops the thread (within one fill step) and joins it; pinned chunks
/// stay valid until their last pin is released.
std::unique_ptr<ByteSource> open_read_ahead_source(std::unique_ptr<Decoder> decoder, ReadAheadShape shape = {});

}  // namespace undocker::layer
