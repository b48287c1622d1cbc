// Magic sniffing and streaming decompression: round trips through zlib and
// libzstd compressors run here, the exact error messages for broken
// streams, and a 1 GiB bomb that must stream in bounded memory.
#include <doctest/doctest.h>
#include <sys/resource.h>
#include <zlib.h>
#include <zstd.h>

#include <cstdint>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "layer/decompress.hpp"
#include "util/error.hpp"

namespace undocker::layer {

namespace {

using Buffer = std::vector<std::uint8_t>;

constexpr char kMember[] = "blobs/sha256/0123abcd";

Buffer gzip_compress(Bytes data, int level = 6) {
  z_stream stream{};
  REQUIRE(deflateInit2(&stream, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) == Z_OK);
  Buffer out(deflateBound(&stream, data.size()));
  stream.next_in = const_cast<Bytef*>(data.data());
  stream.avail_in = static_cast<uInt>(data.size());
  stream.next_out = out.data();
  stream.avail_out = static_cast<uInt>(out.size());
  REQUIRE(deflate(&stream, Z_FINISH) == Z_STREAM_END);
  out.resize(stream.total_out);
  deflateEnd(&stream);
  return out;
}

Buffer zstd_compress(Bytes data, int level = 3) {
  Buffer out(ZSTD_compressBound(data.size()));
  const std::size_t size = ZSTD_compress(out.data(), out.size(), data.data(), data.size(), level);
  REQUIRE(!ZSTD_isError(size));
  out.resize(size);
  return out;
}

Buffer concat(std::initializer_list<Bytes> parts) {
  Buffer out;
  for (Bytes part : parts) out.insert(out.end(), part.begin(), part.end());
  return out;
}

Buffer random_bytes(std::size_t size, std::uint32_t seed) {
  // Runs of repeated bytes mixed with noise: compressible, but not trivially.
  std::mt19937 random(seed);
  Buffer out(size);
  for (std::size_t i = 0; i < size; ++i) out[i] = (random() % 4 == 0) ? static_cast<std::uint8_t>(random()) : 'x';
  return out;
}

Buffer read_all(ByteSource& source) {
  Buffer out;
  for (Bytes chunk = source.read_some(std::size_t{1} << 20); !chunk.empty(); chunk = source.read_some(1 << 20)) {
    out.insert(out.end(), chunk.begin(), chunk.end());
  }
  return out;
}

Buffer decompress_all(Bytes blob) {
  std::unique_ptr<ByteSource> source = open_decompressed(blob, kMember);
  return read_all(*source);
}

std::string error_of(Bytes blob) {
  try {
    decompress_all(blob);
  } catch (const FormatError& error) {
    return error.what();
  }
  return "(no error)";
}

Buffer bytes_of(std::string_view text) { return Buffer(text.begin(), text.end()); }

long max_rss_kib() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_maxrss;
}

}  // namespace

TEST_CASE("detect_compression looks at magic bytes only") {
  CHECK(detect_compression(bytes_of("\x1f\x8b\x08")) == Compression::kGzip);
  CHECK(detect_compression(bytes_of("\x28\xb5\x2f\xfd")) == Compression::kZstd);
  CHECK(detect_compression(bytes_of("\x50\x2a\x4d\x18")) == Compression::kZstd);  // skippable frames
  CHECK(detect_compression(bytes_of("\x5f\x2a\x4d\x18")) == Compression::kZstd);
  CHECK(detect_compression(bytes_of("\x60\x2a\x4d\x18")) == Compression::kNone);
  CHECK(detect_compression(bytes_of("\x28\xb5\x2f")) == Compression::kNone);  // too short
  CHECK(detect_compression(bytes_of("\x1f")) == Compression::kNone);
  CHECK(detect_compression(bytes_of("BZh91AY&SY")) == Compression::kNone);
  CHECK(detect_compression(bytes_of("etc/passwd")) == Compression::kNone);
  CHECK(detect_compression({}) == Compression::kNone);
  CHECK(compression_name(Compression::kNone) == "none");
  CHECK(compression_name(Compression::kGzip) == "gzip");
  CHECK(compression_name(Compression::kZstd) == "zstd");
}

TEST_CASE("an uncompressed blob is read in place") {
  const Buffer blob = bytes_of("plain tar bytes");
  std::unique_ptr<ByteSource> source = open_decompressed(blob, kMember);
  const Bytes view = source->read_exact(5);
  CHECK(view.data() == blob.data());
  CHECK(source->position() == 5);
}

TEST_CASE("gzip and zstd round trips") {
  const Buffer data = random_bytes(3'000'000, 1);
  CHECK(decompress_all(gzip_compress(data)) == data);
  CHECK(decompress_all(zstd_compress(data)) == data);
  CHECK(decompress_all(gzip_compress({})).empty());
  CHECK(decompress_all(zstd_compress({})).empty());
}

TEST_CASE("concatenated gzip members and zstd frames read as one stream") {
  const Buffer hello = bytes_of("hello, ");
  const Buffer world = bytes_of("world");
  const Buffer expected = bytes_of("hello, world");
  CHECK(decompress_all(concat({gzip_compress(hello), gzip_compress({}), gzip_compress(world)})) == expected);
  CHECK(decompress_all(concat({zstd_compress(hello), zstd_compress(world)})) == expected);
  // A skippable frame (magic 0x184D2A5?, 4-byte length, payload) before,
  // between and after the data frames.
  const Buffer skippable = bytes_of(std::string_view("\x53\x2a\x4d\x18\x03\x00\x00\x00" "abc", 11));
  CHECK(decompress_all(concat({skippable, zstd_compress(hello), skippable, zstd_compress(world), skippable})) ==
        expected);
}

TEST_CASE("zero padding after the last member or frame is ignored") {
  const Buffer data = bytes_of("layer contents");
  const Buffer zeros(4096, 0);
  CHECK(decompress_all(concat({gzip_compress(data), zeros})) == data);
  CHECK(decompress_all(concat({gzip_compress(data), gzip_compress(data), Buffer(1, 0)})) ==
        concat({data, data}));
  CHECK(decompress_all(concat({zstd_compress(data), zeros})) == data);
}

TEST_CASE("trailing garbage is rejected, naming the member and the offset") {
  const Buffer data = bytes_of("layer contents");
  const Buffer gzip = gzip_compress(data);
  CHECK(error_of(concat({gzip, bytes_of("garbage")})) ==
        fmt::format("{}: gzip stream is followed by 7 bytes of trailing garbage at offset {}", kMember, gzip.size()));
  // Zeros first do not make garbage acceptable.
  CHECK(error_of(concat({gzip, Buffer(10, 0), bytes_of("x")})) ==
        fmt::format("{}: gzip stream is followed by 11 bytes of trailing garbage at offset {}", kMember, gzip.size()));
  const Buffer zstd = zstd_compress(data);
  CHECK(error_of(concat({zstd, bytes_of("junk")})) ==
        fmt::format("{}: zstd stream is followed by 4 bytes of trailing garbage at offset {}", kMember, zstd.size()));
}

TEST_CASE("a truncated stream ends early") {
  const Buffer data = random_bytes(200'000, 2);
  const Buffer gzip = gzip_compress(data);
  const Buffer zstd = zstd_compress(data);
  const std::string gzip_early = std::string(kMember) + ": gzip stream ends early";
  const std::string zstd_early = std::string(kMember) + ": zstd stream ends early";
  for (std::size_t cut : {std::size_t{3}, std::size_t{12}, gzip.size() / 2, gzip.size() - 8, gzip.size() - 1}) {
    CAPTURE(cut);
    CHECK(error_of(Bytes(gzip).first(cut)) == gzip_early);
  }
  for (std::size_t cut : {std::size_t{4}, std::size_t{7}, zstd.size() / 2, zstd.size() - 1}) {
    CAPTURE(cut);
    CHECK(error_of(Bytes(zstd).first(cut)) == zstd_early);
  }
}

TEST_CASE("corrupt data is reported with the decompressor's reason") {
  // gzip header, then a fixed-Huffman block whose first symbol copies from
  // distance 1 with nothing written yet.
  const Buffer far_back = bytes_of(std::string_view("\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03" "\x03\x02\x00\x00", 14));
  CHECK(error_of(far_back) == std::string(kMember) + ": gzip data is corrupt (invalid distance too far back)");

  Buffer gzip = gzip_compress(bytes_of("some text that is long enough to matter"));
  gzip[gzip.size() - 5] ^= 0xff;  // the CRC-32 in the trailer
  CHECK(error_of(gzip) == std::string(kMember) + ": gzip data is corrupt (incorrect data check)");

  Buffer zstd = zstd_compress(random_bytes(100'000, 3));
  zstd[zstd.size() / 2] ^= 0x55;
  CHECK(error_of(zstd).starts_with(std::string(kMember) + ": zstd data is corrupt ("));
}

TEST_CASE("a zstd frame asking for a window over 128 MiB is refused") {
  ZSTD_CCtx* context = ZSTD_createCCtx();
  ZSTD_CCtx_setParameter(context, ZSTD_c_windowLog, 28);
  ZSTD_CCtx_setParameter(context, ZSTD_c_contentSizeFlag, 0);
  const Buffer data = random_bytes(1000, 4);
  Buffer out(ZSTD_compressBound(data.size()) + 64);
  ZSTD_inBuffer input{data.data(), data.size(), 0};
  ZSTD_outBuffer output{out.data(), out.size(), 0};
  // Two calls, so the compressor cannot learn the (small) input size and
  // must declare the full 256 MiB window in the frame header.
  REQUIRE(!ZSTD_isError(ZSTD_compressStream2(context, &output, &input, ZSTD_e_continue)));
  REQUIRE(ZSTD_compressStream2(context, &output, &input, ZSTD_e_end) == 0);
  ZSTD_freeCCtx(context);
  out.resize(output.pos);
  CHECK(error_of(out) == std::string(kMember) + ": zstd frame needs a window larger than the 128 MiB limit");
}

TEST_CASE("read_exact and read_some across internal buffer boundaries") {
  const Buffer data = random_bytes(5'000'000, 5);
  for (const Buffer& blob : {gzip_compress(data), zstd_compress(data)}) {
    std::unique_ptr<ByteSource> source = open_decompressed(blob, kMember);
    std::size_t offset = 0;
    // Odd sizes straddle every 1 MiB refill; 3 MiB forces the buffer to grow.
    const std::size_t sizes[] = {512, 1000, 1'048'583, 511, 3 << 20, 7, 1 << 20, 65536};
    for (std::size_t step = 0; offset < data.size(); ++step) {
      const std::size_t want = sizes[step % std::size(sizes)];
      const Bytes got = step % 3 == 1 ? source->read_some(want) : source->read_exact(want);
      REQUIRE(!got.empty());
      if (step % 3 != 1) CHECK(got.size() == std::min(want, data.size() - offset));
      REQUIRE(got.size() <= data.size() - offset);
      CHECK(std::equal(got.begin(), got.end(), data.begin() + static_cast<std::ptrdiff_t>(offset)));
      offset += got.size();
      CHECK(source->position() == offset);
    }
    CHECK(source->read_exact(512).empty());
    CHECK(source->read_some(512).empty());
    CHECK(source->position() == data.size());
  }
}

TEST_CASE("a 1 GiB bomb streams in bounded memory") {
  constexpr std::uint64_t kBombBytes = std::uint64_t{1} << 30;
  const Buffer zero_mib(std::size_t{1} << 20, 0);
  // gzip: 1024 members of 1 MiB of zeros (about 1 MiB compressed).
  const Buffer member = gzip_compress(zero_mib, 9);
  Buffer gzip_bomb;
  for (int i = 0; i < 1024; ++i) gzip_bomb.insert(gzip_bomb.end(), member.begin(), member.end());
  // zstd: one frame of unknown content size, fed 1 MiB at a time.
  Buffer zstd_bomb(std::size_t{1} << 20);
  {
    ZSTD_CCtx* context = ZSTD_createCCtx();
    ZSTD_outBuffer output{zstd_bomb.data(), zstd_bomb.size(), 0};
    for (int i = 0; i < 1024; ++i) {
      ZSTD_inBuffer input{zero_mib.data(), zero_mib.size(), 0};
      while (input.pos < input.size) REQUIRE(!ZSTD_isError(ZSTD_compressStream2(context, &output, &input, ZSTD_e_continue)));
    }
    ZSTD_inBuffer none{nullptr, 0, 0};
    REQUIRE(ZSTD_compressStream2(context, &output, &none, ZSTD_e_end) == 0);
    ZSTD_freeCCtx(context);
    zstd_bomb.resize(output.pos);
  }
  for (const Buffer* bomb : {&gzip_bomb, &zstd_bomb}) {
    const long rss_before_kib = max_rss_kib();
    std::unique_ptr<ByteSource> source = open_decompressed(*bomb, kMember);
    std::uint64_t total = 0;
    bool all_zero = true;
    for (Bytes chunk = source->read_some(1 << 20); !chunk.empty(); chunk = source->read_some(1 << 20)) {
      total += chunk.size();
      all_zero = all_zero && chunk.front() == 0 && chunk.back() == 0;
    }
    CHECK(total == kBombBytes);
    CHECK(source->position() == kBombBytes);
    CHECK(all_zero);
    CHECK(max_rss_kib() - rss_before_kib < 64 * 1024);
  }
}

}  // namespace undocker::layer
