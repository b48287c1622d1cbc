// Magic sniffing and streaming decompression: round trips through zlib and
// libzstd compressors run here, the exact error messages for broken
// streams (the same from isa-l and zlib, inline and read ahead), the
// read-ahead hand-over driven by a scripted decoder, and a 1 GiB bomb that
// must stream in bounded memory.
#include <doctest/doctest.h>
#include <sys/resource.h>
#include <zlib.h>
#include <zstd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <sstream>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "fs/root.hpp"
#include "fs/writer.hpp"
#include "layer/apply.hpp"
#include "layer/decompress.hpp"
#include "layer/inflate_isal.hpp"
#include "layer/read_ahead.hpp"
#include "layer/verify.hpp"
#include "util/sha256.hpp"
#include "support/compress.hpp"
#include "support/scoped_temp_dir.hpp"
#include "support/tar_builder.hpp"
#include "util/error.hpp"
#include "util/knobs.hpp"

namespace undocker::layer {

namespace {

using Buffer = std::vector<std::uint8_t>;

constexpr char kMember[] = "blobs/sha256/0123abcd";

using test::gzip_compress;

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

// Small chunks, so that even short test streams cross chunk boundaries.
constexpr ReadAheadShape kSmallChunks{64 * 1024, 3};

std::unique_ptr<ByteSource> open_read_ahead(Bytes blob, ReadAheadShape shape = kSmallChunks) {
  std::unique_ptr<Decoder> decoder = open_decoder(blob, kMember);
  REQUIRE(decoder != nullptr);
  return open_read_ahead_source(std::move(decoder), shape);
}

std::string error_of_source(std::unique_ptr<ByteSource> source) {
  try {
    read_all(*source);
  } catch (const FormatError& error) {
    return error.what();
  }
  return "(no error)";
}

// Also reads a compressed blob ahead on a thread, which must agree.
Buffer decompress_all(Bytes blob) {
  std::unique_ptr<ByteSource> source = open_decompressed(blob, kMember);
  Buffer out = read_all(*source);
  if (detect_compression(blob) != Compression::kNone) CHECK(read_all(*open_read_ahead(blob)) == out);
  return out;
}

std::string error_of(Bytes blob) {
  const std::string message = error_of_source(open_decompressed(blob, kMember));
  if (detect_compression(blob) != Compression::kNone) CHECK(error_of_source(open_read_ahead(blob)) == message);
  return message;
}

/// Sets an environment variable for one scope (UNDOCKER_INFLATE,
/// UNDOCKER_READ_AHEAD) and the knobs read from it (util/knobs.hpp), then
/// puts back what was there.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value != nullptr) {
      setenv(name, value, 1);
    } else {
      unsetenv(name);
    }
    set_knobs(read_knobs_from_environment());
  }
  ~ScopedEnv() {
    if (old_) {
      setenv(name_, old_->c_str(), 1);
    } else {
      unsetenv(name_);
    }
    set_knobs(read_knobs_from_environment());
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  const char* name_;
  std::optional<std::string> old_;
};

/// A gzip member with a hand-made header: deflate(data), then CRC-32 and
/// ISIZE (plus `isize_delta`).
Buffer gzip_member(Bytes header, Bytes data, std::uint32_t isize_delta = 0) {
  const Buffer deflated = test::deflate_with(data, -15);
  const auto crc = static_cast<std::uint32_t>(crc32(0, data.data(), static_cast<uInt>(data.size())));
  const auto isize = static_cast<std::uint32_t>(data.size()) + isize_delta;
  Buffer out = concat({header, deflated});
  for (std::uint32_t word : {crc, isize}) {
    for (int shift = 0; shift < 32; shift += 8) out.push_back(static_cast<std::uint8_t>(word >> shift));
  }
  return out;
}

/// The byte at `offset` of a scripted decoder's stream: changes every byte
/// and every 256, so a reordered or repeated piece shows.
std::uint8_t pattern_byte(std::uint64_t offset) { return static_cast<std::uint8_t>(offset + (offset >> 8) * 31); }

bool matches_pattern(Bytes bytes, std::uint64_t offset) {
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    if (bytes[i] != pattern_byte(offset + i)) return false;
  }
  return true;
}

/// A decoder that writes `total_bytes` of pattern in fills of at most
/// `max_fill_bytes`, or fails once `fail_at` bytes are out.
class PatternDecoder final : public Decoder {
 public:
  struct Probe {
    std::atomic<std::uint64_t> produced_bytes = 0;
    std::atomic<bool> destroyed = false;
    std::chrono::milliseconds fill_time{0};  // a slow decoder: each fill takes at least this long
  };

  PatternDecoder(std::uint64_t total_bytes, std::size_t max_fill_bytes, std::optional<std::uint64_t> fail_at,
                 Probe& probe)
      : Decoder(kMember), total_bytes_(total_bytes), max_fill_bytes_(max_fill_bytes), fail_at_(fail_at),
        probe_(probe) {}
  ~PatternDecoder() override { probe_.destroyed = true; }

  std::size_t fill(std::uint8_t* out, std::size_t capacity) override {
    std::uint64_t limit = total_bytes_;
    if (fail_at_) limit = std::min(limit, *fail_at_);
    if (fail_at_ && produced_ == *fail_at_) fail(fmt::format("broken at {}", produced_));
    if (probe_.fill_time.count() > 0) std::this_thread::sleep_for(probe_.fill_time);
    const std::size_t count =
        static_cast<std::size_t>(std::min<std::uint64_t>({capacity, max_fill_bytes_, limit - produced_}));
    for (std::size_t i = 0; i < count; ++i) out[i] = pattern_byte(produced_ + i);
    produced_ += count;
    probe_.produced_bytes = produced_;
    finished_ = produced_ == total_bytes_;
    return count;
  }

 private:
  std::uint64_t total_bytes_;
  std::size_t max_fill_bytes_;
  std::optional<std::uint64_t> fail_at_;
  Probe& probe_;
  std::uint64_t produced_ = 0;
};

constexpr std::uint64_t kEndless = UINT64_MAX;

std::unique_ptr<ByteSource> open_pattern(std::uint64_t total_bytes, std::size_t max_fill_bytes,
                                         std::optional<std::uint64_t> fail_at, PatternDecoder::Probe& probe,
                                         ReadAheadShape shape) {
  return open_read_ahead_source(std::make_unique<PatternDecoder>(total_bytes, max_fill_bytes, fail_at, probe), shape);
}

std::size_t thread_count() {
  const std::filesystem::directory_iterator tasks("/proc/self/task");
  return static_cast<std::size_t>(std::distance(begin(tasks), end(tasks)));
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

TEST_CASE("gzip headers and trailers are checked alike by isa-l and zlib") {
  const Buffer data = bytes_of("the layer's tar bytes, more or less");
  // FEXTRA, FNAME and FCOMMENT, as some producers write them.
  const Buffer full_header = bytes_of(std::string_view(
      "\x1f\x8b\x08\x1c\x00\x00\x00\x00\x00\x03" "\x04\x00" "AB\x00\x00" "layer.tar\0" "a comment\0", 36));
  Buffer hcrc_header = bytes_of(std::string_view("\x1f\x8b\x08\x02\x00\x00\x00\x00\x00\x03", 10));
  const auto header_crc = static_cast<std::uint32_t>(crc32(0, hcrc_header.data(), 10));
  hcrc_header.push_back(static_cast<std::uint8_t>(header_crc));
  hcrc_header.push_back(static_cast<std::uint8_t>(header_crc >> 8));
  Buffer bad_hcrc_header = hcrc_header;
  bad_hcrc_header.back() ^= 1;
  const Buffer plain_header = bytes_of(std::string_view("\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03", 10));
  Buffer reserved_flag_header = plain_header;
  reserved_flag_header[3] = 0x20;
  Buffer method_header = plain_header;
  method_header[2] = 7;

  const Buffer two_members = concat({gzip_member(full_header, data), gzip_member(hcrc_header, data)});
  const std::string corrupt = std::string(kMember) + ": gzip data is corrupt (";
  struct Case {
    Bytes blob;
    std::string expected;
  };
  const Buffer bad_hcrc = gzip_member(bad_hcrc_header, data);
  const Buffer reserved_flag = gzip_member(reserved_flag_header, data);
  const Buffer unknown_method = gzip_member(method_header, data);
  const Buffer bad_length = gzip_member(plain_header, data, 1);
  const Buffer bad_length_third = concat({two_members, bad_length});
  const Case cases[] = {
      {two_members, "(no error)"},
      {bad_hcrc, corrupt + "header crc mismatch)"},
      {reserved_flag, corrupt + "unknown header flags set)"},
      {unknown_method, corrupt + "unknown compression method)"},
      {bad_length, corrupt + "incorrect length check)"},
      {bad_length_third, corrupt + "incorrect length check)"},
      {Bytes(two_members).first(two_members.size() - 3), std::string(kMember) + ": gzip stream ends early"},
      {Bytes(two_members).first(full_header.size() - 5), std::string(kMember) + ": gzip stream ends early"},
  };
  for (const std::string inflate : {"zlib", "isal"}) {
    const ScopedEnv env("UNDOCKER_INFLATE", inflate.c_str());
    for (const Case& item : cases) {
      CAPTURE(inflate);
      CAPTURE(item.expected);
      CHECK(error_of(item.blob) == item.expected);
    }
    CHECK(decompress_all(two_members) == concat({data, data}));
  }
}

TEST_CASE("deflate errors where isa-l's reason is coarser than zlib's") {
  const Buffer header = bytes_of(std::string_view("\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03", 10));
  struct Case {
    std::string_view deflate;
    std::string_view zlib_reason;
    std::string_view isal_reason;
  };
  const Case cases[] = {
      {std::string_view("\x07", 1), "invalid block type", "invalid block"},
      {std::string_view("\x01\x05\x00\x00\x00", 5), "invalid stored block lengths", "invalid block"},
      // Fixed Huffman: 'a', a length, then distance code 30.
      {std::string_view("\x4b\x04\x3e", 3), "invalid distance code", "invalid literal/length or distance code"},
      // Fixed Huffman: literal/length code 286.
      {std::string_view("\x1b\x03\x00", 3), "invalid literal/length code", "invalid literal/length or distance code"},
  };
  for (const Case& item : cases) {
    const Buffer blob = concat({header, as_bytes(item.deflate), Buffer(8, 0)});
    const std::string corrupt = std::string(kMember) + ": gzip data is corrupt (";
    {
      const ScopedEnv env("UNDOCKER_INFLATE", "zlib");
      CHECK(error_of(blob) == corrupt + std::string(item.zlib_reason) + ")");
    }
#if UNDOCKER_HAVE_ISAL
    const ScopedEnv env("UNDOCKER_INFLATE", nullptr);
    CHECK(error_of(blob) == corrupt + std::string(item.isal_reason) + ")");
#endif
  }
}

TEST_CASE("isa-l is there exactly when undocker was built with it") {
  const Buffer blob = gzip_compress(bytes_of("x"));
#if UNDOCKER_HAVE_ISAL
  CHECK(open_isal_gzip_decoder(blob, kMember) != nullptr);
#else
  CHECK(open_isal_gzip_decoder(blob, kMember) == nullptr);
#endif
}

TEST_CASE("read-ahead hands over the decoder's bytes in order") {
  PatternDecoder::Probe probe;
  constexpr std::uint64_t kTotal = 100'000;
  // Fills of 333 bytes into 1000-byte chunks: chunks end mid-fill.
  std::unique_ptr<ByteSource> source = open_pattern(kTotal, 333, std::nullopt, probe, {1000, 3});
  std::uint64_t offset = 0;
  const std::size_t sizes[] = {512, 1, 999, 1000, 1001, 7, 2500, 4096};
  for (std::size_t step = 0; offset < kTotal; ++step) {
    const std::size_t want = sizes[step % std::size(sizes)];
    const Bytes got = step % 2 == 0 ? source->read_some(want) : source->read_exact(want);
    REQUIRE(!got.empty());
    REQUIRE(got.size() <= want);
    if (step % 2 == 1) CHECK(got.size() == std::min<std::uint64_t>(want, kTotal - offset));
    CHECK(matches_pattern(got, offset));
    offset += got.size();
    CHECK(source->position() == offset);
  }
  CHECK(source->read_some(1).empty());
  CHECK(source->read_exact(512).empty());
  CHECK(source->position() == kTotal);
}

TEST_CASE("read-ahead read_exact gathers across chunk boundaries") {
  PatternDecoder::Probe probe;
  std::unique_ptr<ByteSource> source = open_pattern(10'000, 1000, std::nullopt, probe, {1000, 3});
  CHECK(source->read_some(10).size() == 10);
  const Bytes spanning = source->read_exact(2500);  // the rest of chunk 0, all of 1 and 2, part of 3
  CHECK(spanning.size() == 2500);
  CHECK(matches_pattern(spanning, 10));
  CHECK(source->position() == 2510);
  const Bytes inside = source->read_exact(400);
  CHECK(inside.size() == 400);
  CHECK(matches_pattern(inside, 2510));
  const Bytes rest = source->read_exact(20'000);  // more than is left: short, only at the end
  CHECK(rest.size() == 10'000 - 2910);
  CHECK(matches_pattern(rest, 2910));
  CHECK(source->read_exact(1).empty());
  CHECK(source->position() == 10'000);
}

TEST_CASE("a decoder error surfaces after every byte decoded before it") {
  constexpr std::uint64_t kFailAt = 12'345;
  const std::string message = fmt::format("{}: broken at {}", kMember, kFailAt);
  SUBCASE("read_some") {
    PatternDecoder::Probe probe;
    std::unique_ptr<ByteSource> source = open_pattern(kEndless, 777, kFailAt, probe, {1000, 3});
    std::uint64_t offset = 0;
    for (;;) {
      Bytes got;
      try {
        got = source->read_some(700);
      } catch (const FormatError& error) {
        CHECK(error.what() == message);
        break;
      }
      REQUIRE(!got.empty());
      CHECK(matches_pattern(got, offset));
      offset += got.size();
    }
    CHECK(offset == kFailAt);
    CHECK(source->position() == kFailAt);
    CHECK_THROWS_WITH_AS(source->read_some(1), message.c_str(), FormatError);  // and again
  }
  SUBCASE("read_exact across the failing point") {
    PatternDecoder::Probe probe;
    std::unique_ptr<ByteSource> source = open_pattern(kEndless, 777, kFailAt, probe, {1000, 3});
    CHECK(matches_pattern(source->read_exact(5000), 0));
    CHECK(matches_pattern(source->read_exact(5000), 5000));
    CHECK_THROWS_WITH_AS(source->read_exact(5000), message.c_str(), FormatError);
    CHECK(source->position() == kFailAt);
  }
  SUBCASE("on the first read") {
    PatternDecoder::Probe probe;
    std::unique_ptr<ByteSource> source = open_pattern(kEndless, 777, 0, probe, {1000, 3});
    CHECK_THROWS_WITH_AS(source->read_exact(512), fmt::format("{}: broken at 0", kMember).c_str(), FormatError);
    CHECK(source->position() == 0);
  }
}

// Polls `ready` until it holds; false after a minute (a hang bound, far
// beyond any load, not a timing).
template <typename Predicate>
bool wait_until(Predicate ready) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (!ready()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

// Destroys the source; a destructor that never returns (its decoder thread
// does not stop) fails here instead of at meson's timeout.
void destroy_source(std::unique_ptr<ByteSource> source, const PatternDecoder::Probe& probe) {
  std::future<void> done = std::async(std::launch::async, [&source] { source.reset(); });
  if (done.wait_for(std::chrono::seconds(60)) != std::future_status::ready) {
    FAIL_CHECK("destroying the read-ahead source does not return: its decoder thread never stops");
    std::abort();  // the stuck thread cannot be joined
  }
  CHECK(probe.destroyed);
}

TEST_CASE("destroying a read-ahead source early stops its thread") {
  // What is checked is work, not time (a loaded machine only delays it): the
  // decoder stops within a fill of the destruction, and the destructor
  // returns.
  constexpr std::size_t kChunk = 65536;
  SUBCASE("mid-chunk, with the decoder still filling it") {
    // 64 bytes per fill of at least 1 ms: filling the 1 MiB chunk takes over
    // 16 s. A destructor that let the decoder finish its chunk would leave
    // 1 MiB produced; one that stops it, a few fills past the first.
    PatternDecoder::Probe probe;
    probe.fill_time = std::chrono::milliseconds(1);
    constexpr std::size_t kBigChunk = std::size_t{1} << 20;
    std::unique_ptr<ByteSource> source = open_pattern(kEndless, 64, std::nullopt, probe, {kBigChunk, 3});
    REQUIRE(wait_until([&] { return probe.produced_bytes > 0; }));
    destroy_source(std::move(source), probe);
    CHECK(probe.produced_bytes.load() < kBigChunk);
  }
  SUBCASE("with every chunk full and the decoder waiting") {
    PatternDecoder::Probe probe;
    std::unique_ptr<ByteSource> source = open_pattern(kEndless, 4096, std::nullopt, probe, {kChunk, 3});
    REQUIRE(wait_until([&] { return probe.produced_bytes >= 3 * kChunk; }));
    destroy_source(std::move(source), probe);
    CHECK(probe.produced_bytes.load() == 3 * kChunk);  // woken to stop, not to decode on
  }
  SUBCASE("after reading part of the stream") {
    PatternDecoder::Probe probe;
    std::unique_ptr<ByteSource> source = open_pattern(kEndless, 4096, std::nullopt, probe, {kChunk, 3});
    CHECK(matches_pattern(source->read_exact(100'000), 0));
    destroy_source(std::move(source), probe);
  }
  SUBCASE("after the decoder failed") {
    PatternDecoder::Probe probe;
    std::unique_ptr<ByteSource> source = open_pattern(kEndless, 4096, 10, probe, {kChunk, 3});
    CHECK_THROWS_AS(source->read_exact(100), FormatError);
    destroy_source(std::move(source), probe);
  }
}

// Waits until the decoder has produced `bytes`, then checks that it stops
// there (it waits for the reader or for a pin to go). The 50 ms only give
// a decoder that runs on a chance to show it; a loaded machine can hide
// that (a missed failure), never fail a decoder that stops.
void check_decoder_stops_at(const PatternDecoder::Probe& probe, std::uint64_t bytes) {
  wait_until([&] { return probe.produced_bytes >= bytes; });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  CHECK(probe.produced_bytes.load() == bytes);
}

// What on_decoded saw when it ran.
struct DecodedCall {
  std::atomic<int> calls = 0;
  std::atomic<bool> decoder_freed = false;
  std::atomic<bool> on_reader_thread = false;
};

std::unique_ptr<ByteSource> open_pattern_noting(std::uint64_t total_bytes, std::optional<std::uint64_t> fail_at,
                                                PatternDecoder::Probe& probe, DecodedCall& call) {
  const std::thread::id reader = std::this_thread::get_id();
  return open_read_ahead_source(std::make_unique<PatternDecoder>(total_bytes, 4096, fail_at, probe), {65536, 3},
                                [&call, &probe, reader] {
                                  call.decoder_freed = probe.destroyed.load();
                                  call.on_reader_thread = std::this_thread::get_id() == reader;
                                  ++call.calls;
                                });
}

TEST_CASE("read-ahead calls on_decoded once the stream is decoded to its end, not otherwise") {
  SUBCASE("before the reader has read anything, on the decoder thread, the decoder freed") {
    PatternDecoder::Probe probe;
    DecodedCall call;
    std::unique_ptr<ByteSource> source = open_pattern_noting(100'000, std::nullopt, probe, call);
    REQUIRE(wait_until([&] { return call.calls > 0; }));
    CHECK(call.decoder_freed);
    CHECK_FALSE(call.on_reader_thread);
    CHECK(matches_pattern(source->read_exact(100'000), 0));
    CHECK(source->read_some(1).empty());
    source.reset();
    CHECK(call.calls == 1);
  }
  SUBCASE("never when the decoder fails") {
    PatternDecoder::Probe probe;
    DecodedCall call;
    std::unique_ptr<ByteSource> source = open_pattern_noting(100'000, 70'000, probe, call);
    CHECK_THROWS_AS(read_all(*source), FormatError);
    source.reset();
    CHECK(call.calls == 0);
  }
  SUBCASE("never when the source is destroyed first") {
    PatternDecoder::Probe probe;
    DecodedCall call;
    std::unique_ptr<ByteSource> source = open_pattern_noting(kEndless, std::nullopt, probe, call);
    CHECK(matches_pattern(source->read_exact(100'000), 0));
    source.reset();
    CHECK(call.calls == 0);
  }
}

TEST_CASE("read-ahead decodes no further than its chunks") {
  PatternDecoder::Probe probe;
  constexpr std::size_t kChunk = 65536;
  std::unique_ptr<ByteSource> source = open_pattern(kEndless, 4096, std::nullopt, probe, {kChunk, 3, 12});
  check_decoder_stops_at(probe, 3 * kChunk);                 // three ahead of the reader
  CHECK(source->read_some(kChunk).size() == kChunk);         // takes chunk 0: one more may be decoded
  check_decoder_stops_at(probe, 4 * kChunk);
  CHECK(source->read_some(1).size() == 1);                   // moves to chunk 1
  check_decoder_stops_at(probe, 5 * kChunk);
}

TEST_CASE("a pinned chunk stays valid and counts against max_chunks") {
  PatternDecoder::Probe probe;
  constexpr std::size_t kChunk = 65536;
  std::unique_ptr<ByteSource> source = open_pattern(kEndless, 4096, std::nullopt, probe, {kChunk, 3, 9});
  CHECK(source->pin_limit_bytes() == kChunk);
  std::vector<std::shared_ptr<const void>> pins;
  std::vector<Bytes> views;
  std::vector<std::vector<std::uint8_t>> copies;
  for (int chunk = 0; chunk < 7; ++chunk) {
    const Bytes view = source->read_some(kChunk);
    REQUIRE(view.size() == kChunk);
    views.push_back(view);
    copies.emplace_back(view.begin(), view.end());
    pins.push_back(source->pin_last_read());
    REQUIRE(pins.back() != nullptr);
  }
  // Chunks 0-6 held: only two of the nine buffers are left to read ahead.
  check_decoder_stops_at(probe, 9 * kChunk);
  for (std::size_t i = 0; i < views.size(); ++i) {
    CHECK(std::equal(views[i].begin(), views[i].end(), copies[i].begin()));  // not reused while pinned
  }
  pins.clear();  // chunks 0-5 go back (chunk 6 is the reader's)
  check_decoder_stops_at(probe, 10 * kChunk);  // three ahead again
  // A view gathered across chunks cannot be pinned.
  CHECK(source->read_some(1).size() == 1);  // chunk 7
  CHECK(source->read_some(kChunk - 2).size() == kChunk - 2);
  CHECK(source->read_exact(2).size() == 2);
  CHECK(source->pin_last_read() == nullptr);
}

TEST_CASE("a pin outlives the source") {
  PatternDecoder::Probe probe;
  std::unique_ptr<ByteSource> source = open_pattern(kEndless, 4096, std::nullopt, probe, {65536, 3, 9});
  const Bytes view = source->read_some(100);
  const std::vector<std::uint8_t> copy(view.begin(), view.end());
  std::shared_ptr<const void> pin = source->pin_last_read();
  source.reset();
  CHECK(std::equal(view.begin(), view.end(), copy.begin()));
}

TEST_CASE("open_decompressed reads a compressed blob over 1 MiB ahead, on a thread") {
  std::mt19937 random(6);
  Buffer noise(std::size_t{2} << 20);
  for (std::uint8_t& byte : noise) byte = static_cast<std::uint8_t>(random());
  const Buffer large = gzip_compress(noise, 1);
  const Buffer small = gzip_compress(random_bytes(100'000, 7));
  REQUIRE(large.size() > (std::size_t{1} << 20));
  // Counting the process's threads proved flaky on a loaded machine (a
  // finished thread lingers in /proc); what matters is the same bytes
  // either way, and that no thread outlives its source.
  const std::size_t threads_before = thread_count();
  for (const char* read_ahead : {"1", "0"}) {
    CAPTURE(read_ahead);
    const ScopedEnv env("UNDOCKER_READ_AHEAD", read_ahead);
    std::unique_ptr<ByteSource> large_source = open_decompressed(large, kMember);
    std::unique_ptr<ByteSource> small_source = open_decompressed(small, kMember);
    CHECK(read_all(*large_source) == noise);
  }
  // A joined thread leaves /proc/self/task a little later: wait for that
  // (a leaked thread never leaves, and fails after a minute).
  CHECK(wait_until([&] { return thread_count() <= threads_before; }));
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
  // The gzip bomb is over 1 MiB, so it is read ahead; the zstd one, smaller,
  // inline unless asked for.
  for (int run = 0; run < 3; ++run) {
    CAPTURE(run);
    const Buffer* bomb = run == 0 ? &gzip_bomb : &zstd_bomb;
    const long rss_before_kib = max_rss_kib();
    std::unique_ptr<ByteSource> source =
        run == 2 ? open_read_ahead(*bomb, ReadAheadShape{}) : open_decompressed(*bomb, kMember);
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


TEST_CASE("HashingSource hashes the decoded stream on its own thread, pinned or copied, in order") {
  const Buffer data = random_bytes(3'000'000, 11);
  const Buffer blob = gzip_compress(data, 1);
  const std::string diff_id = "sha256:" + sha256_hex(data);
  for (const std::size_t chunk : {std::size_t{4096}, std::size_t{65536}, std::size_t{2} << 20}) {
    CAPTURE(chunk);
    for (const bool right : {true, false}) {
      std::unique_ptr<ByteSource> source = open_read_ahead_source(open_decoder(blob, "layer.tar.gz"), {chunk, 3, 12});
      HashingSource hashing(*source);
      // Headers (read_exact, some spanning chunks: copied) and data
      // (read_some: pinned), as the tar reader reads them.
      std::mt19937 random(static_cast<unsigned>(chunk));
      Buffer seen;
      for (int i = 0; i < 200; ++i) {
        const Bytes piece = (i % 2 == 0) ? hashing.read_exact(512) : hashing.read_some(random() % 20000 + 1);
        seen.insert(seen.end(), piece.begin(), piece.end());
      }
      CHECK(std::equal(seen.begin(), seen.end(), data.begin()));
      if (right) {
        CHECK_NOTHROW(hashing.verify_rest(diff_id, "layer.tar.gz"));
      } else {
        CHECK_THROWS_WITH_AS(hashing.verify_rest("sha256:" + std::string(64, '0'), "layer.tar.gz"),
                             doctest::Contains("diffID mismatch"), DigestError);
      }
    }
  }
}

TEST_CASE("small files of a compressed layer, pinned in small chunks, never starve the decoder") {
  // 400 files of 5,000 bytes in 8 KiB chunks (at most 9): 16 files queued
  // for a sleeping worker would pin ~10 chunks. The workers must be woken
  // before the decoder runs out (util/batched_wake.hpp), or this hangs.
  test::TarBuilder tar;
  for (int i = 0; i < 400; ++i) {
    tar.file(fmt::format("d/f{:03}", i), std::string(5000, static_cast<char>('a' + i % 26)));
  }
  const Buffer blob = gzip_compress(tar.end().bytes());
  test::ScopedTempDir temp;
  fs::RootDir root(temp.path() + "/root");
  fs::TreeWriter writer(root, fs::WriterOptions{false, false, false, 2});
  std::unique_ptr<ByteSource> source = open_read_ahead_source(open_decoder(blob, kMember), {8192, 3, 9});
  std::future<void> done = std::async(std::launch::async, [&] {
    apply_layer(*source, 0, kMember, writer, ApplyOptions{});
    writer.finish();
  });
  if (done.wait_for(std::chrono::seconds(60)) != std::future_status::ready) {
    FAIL_CHECK("applying the layer did not finish: the decoder is starved of chunks");
    std::abort();  // the stuck threads cannot be joined
  }
  done.get();
  for (int i : {0, 137, 399}) {
    std::ifstream file(fmt::format("{}/root/d/f{:03}", temp.path(), i));
    std::stringstream content;
    content << file.rdbuf();
    CHECK(content.str() == std::string(5000, static_cast<char>('a' + i % 26)));
  }
}

}  // namespace undocker::layer
