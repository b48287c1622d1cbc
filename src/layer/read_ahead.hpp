// Decoding a compressed layer on a thread of its own, a few chunks ahead of
// the reader, so that inflate overlaps the tar reader and the file writes.
// A chunk can be pinned (ByteSource::pin_last_read): a small file's data is
// then handed to the file workers without a copy, and the chunk goes back
// to the decoder when the last file in it is written.
// Memory stays bounded: at most max_chunks chunks of chunk_bytes, plus one
// scratch buffer as large as the largest read_exact that spans two chunks.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>

#include "util/byte_source.hpp"
#include "layer/decompress.hpp"

namespace undocker::layer {

struct ReadAheadShape {
  // 1 MiB: a decoder thread's turn lasts about a millisecond, long against
  // the cost of a hand-over, and a file that fits in one chunk can be
  // pinned (pin_limit_bytes). Smaller chunks than the 2 MiB of sessions
  // 1-4 hand bytes to the hashers and the file workers sooner.
  std::size_t chunk_bytes = std::size_t{1} << 20;
  // Decoded and not yet reached by the reader: the decoder runs this far
  // ahead while the reader is slow (whiteouts, directories), and the reader
  // catches up while the decoder is (bench/RESULTS.md, session 5).
  std::size_t chunks_ahead = 6;
  // Ahead, being read, and pinned by files waiting for a worker or bytes
  // waiting for the diffID hasher: 24 MiB. At least 9 (read_ahead.cpp).
  std::size_t max_chunks = 24;
};

/// A ByteSource whose bytes `decoder` produces on another thread. The
/// decoder's FormatError is thrown by the read that reaches the point where
/// it failed, after every byte decoded before it. Destroying the source
/// stops the thread (within one fill step) and joins it; pinned chunks
/// stay valid until their last pin is released.
/// `on_decoded`, if set, is called once on the decoder thread when the
/// stream has been decoded to its end without error (the reader may not
/// have read it all yet), after the decoder itself was freed; it must not
/// throw. Not called when the decoder fails or the source is destroyed
/// first.
std::unique_ptr<ByteSource> open_read_ahead_source(std::unique_ptr<Decoder> decoder, ReadAheadShape shape = {},
                                                   std::function<void()> on_decoded = nullptr);

}  // namespace undocker::layer
