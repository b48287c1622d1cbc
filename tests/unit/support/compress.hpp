// gzip in memory with zlib, for tests that need compressed layers.
#pragma once

#include <doctest/doctest.h>
#include <zlib.h>

#include <cstdint>
#include <vector>

#include "util/bytes.hpp"

namespace undocker::test {

/// deflate(data) with zlib's window_bits: 15 + 16 makes a gzip member,
/// -15 a raw deflate stream.
inline std::vector<std::uint8_t> deflate_with(Bytes data, int window_bits, int level = 6) {
  z_stream stream{};
  REQUIRE(deflateInit2(&stream, level, Z_DEFLATED, window_bits, 8, Z_DEFAULT_STRATEGY) == Z_OK);
  std::vector<std::uint8_t> out(deflateBound(&stream, data.size()));
  stream.next_in = const_cast<Bytef*>(data.data());
  stream.avail_in = static_cast<uInt>(data.size());
  stream.next_out = out.data();
  stream.avail_out = static_cast<uInt>(out.size());
  REQUIRE(deflate(&stream, Z_FINISH) == Z_STREAM_END);
  out.resize(stream.total_out);
  deflateEnd(&stream);
  return out;
}

inline std::vector<std::uint8_t> gzip_compress(Bytes data, int level = 6) { return deflate_with(data, 15 + 16, level); }

}  // namespace undocker::test
