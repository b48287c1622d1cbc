// SHA-256 block compression with the x86 SHA extensions (SHA-NI), chosen at
// run time. Verifying digests is on by default and hashes every byte of
// the archive, so it must not be what limits extraction.
#pragma once

#include <cstddef>
#include <cstdint>

namespace undocker {

/// True when this CPU has SHA-NI (and the SSSE3/SSE4.1 it relies on).
bool cpu_has_sha_ni();

/// Hashes block_count 64-byte blocks into state (a..h). Only call when
/// cpu_has_sha_ni().
void sha256_compress_sha_ni(std::uint32_t state[8], const std::uint8_t* blocks, std::size_t block_count);

}  // namespace undocker
