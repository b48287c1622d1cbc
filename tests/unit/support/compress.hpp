// gzip in memory with zlib, for tests that need compressed layers.
#pragma once

#include <doctest/doctest.h>
#include <zlib.h>

#include <cstdint>
#include <vector>

#include "util/bytes.hpp"

namespace undocker::test {

inline std::vector<std::uint8_t> gzip_compress(Bytes data, int level = 6) {
  z_stream stream{};
  REQUIRE(deflateInit2(&stream, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) == Z_OK);
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

}  // namespace undocker::test
