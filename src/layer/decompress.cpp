// Magic sniffing, the zlib gzip and zstd decoders, and the choice between
// decoding inline and reading ahead. The compressed blob is already in
// memory (mapped); only the decompressed side is buffered, in a buffer that
// grows to the largest read_exact and no further.
#include "layer/decompress.hpp"

#include <zlib.h>
#include <zstd.h>
#include <zstd_errors.h>

#include <algorithm>
#include <climits>
#include <cstring>
#include <new>

#include <fmt/format.h>

#include "layer/inflate_isal.hpp"
#include "layer/read_ahead.hpp"
#include "util/error.hpp"
#include "util/knobs.hpp"
#include "util/log.hpp"

namespace undocker::layer {

namespace {

// Large enough that read_some hands the tar reader whole file bodies in few
// calls, small enough to stay in L2/L3 while it is written and read.
constexpr std::size_t kOutputBufferBytes = std::size_t{1} << 20;
// zlib counts input in 32-bit uInt; a >4 GiB blob is fed in slices.
constexpr std::size_t kInflateInputSliceBytes = std::size_t{1} << 30;
// zstd's decoder allocates its window up front: 2^27 (128 MiB) covers
// `zstd --long` up to level 19 and refuses a frame that asks for gigabytes.
constexpr int kMaxZstdWindowLog = 27;
// Below this a layer decodes in a few milliseconds: a thread would cost more
// than it overlaps.
constexpr std::size_t kReadAheadMinBlobBytes = std::size_t{1} << 20;

bool is_all_zero(Bytes bytes) {
  return std::all_of(bytes.begin(), bytes.end(), [](std::uint8_t b) { return b == 0; });
}

bool starts_with_zstd_magic(Bytes bytes) {
  if (bytes.size() < 4) return false;
  const std::uint32_t magic = bytes[0] | (bytes[1] << 8) | (bytes[2] << 16) | (std::uint32_t{bytes[3]} << 24);
  // RFC 8878: a zstd frame, or a skippable frame (0x184D2A50..0x184D2A5F).
  return magic == 0xFD2FB528 || (magic & 0xFFFFFFF0) == 0x184D2A50;
}

/// Decodes on the reader's thread, through one reused buffer.
class InlineSource final : public ByteSource {
 public:
  explicit InlineSource(std::unique_ptr<Decoder> decoder)
      : decoder_(std::move(decoder)),
        buffer_(new std::uint8_t[kOutputBufferBytes]),  // not zeroed: a tiny layer touches few pages
        capacity_(kOutputBufferBytes) {}

  Bytes read_some(std::size_t max_bytes) override {
    if (begin_ == end_) {
      begin_ = end_ = 0;
      while (end_ == 0 && !decoder_->finished()) end_ = decoder_->fill(buffer_.get(), capacity_);
    }
    return take(max_bytes);
  }

  Bytes read_exact(std::size_t n) override {
    if (end_ - begin_ < n && !decoder_->finished()) {
      if (capacity_ - begin_ < n) make_room(n);
      while (end_ - begin_ < n && !decoder_->finished()) end_ += decoder_->fill(buffer_.get() + end_, capacity_ - end_);
    }
    return take(n);
  }

  std::uint64_t position() const override { return position_; }

 private:
  // Moves the unread bytes to the front, growing the buffer only for an n
  // that cannot fit at all (callers bound n, see util/limits.hpp).
  void make_room(std::size_t n) {
    const std::size_t unread = end_ - begin_;
    if (capacity_ < n) {
      std::unique_ptr<std::uint8_t[]> larger(new std::uint8_t[n]);
      std::memcpy(larger.get(), buffer_.get() + begin_, unread);
      buffer_ = std::move(larger);
      capacity_ = n;
    } else {
      std::memmove(buffer_.get(), buffer_.get() + begin_, unread);
    }
    begin_ = 0;
    end_ = unread;
  }

  Bytes take(std::size_t n) {
    const std::size_t count = std::min(n, end_ - begin_);
    const Bytes view(buffer_.get() + begin_, count);
    begin_ += count;
    position_ += count;
    return view;
  }

  std::unique_ptr<Decoder> decoder_;
  std::unique_ptr<std::uint8_t[]> buffer_;
  std::size_t capacity_;
  std::size_t begin_ = 0;  // first unread byte in buffer_
  std::size_t end_ = 0;    // one past the last decompressed byte in buffer_
  std::uint64_t position_ = 0;
};

class ZlibGzipDecoder final : public Decoder {
 public:
  ZlibGzipDecoder(Bytes blob, std::string member_name) : Decoder(std::move(member_name)), blob_(blob) {
    // 15 + 16: a 32 KiB window and a gzip (not zlib) header and trailer.
    if (inflateInit2(&stream_, 15 + 16) != Z_OK) throw std::bad_alloc();
  }
  ~ZlibGzipDecoder() override { inflateEnd(&stream_); }

  std::size_t fill(std::uint8_t* out, std::size_t capacity) override {
    const auto out_bytes = static_cast<uInt>(std::min<std::size_t>(capacity, UINT_MAX));
    stream_.next_out = out;
    stream_.avail_out = out_bytes;
    while (stream_.avail_out > 0 && !finished_) {
      if (stream_.avail_in == 0) {
        stream_.next_in = const_cast<Bytef*>(blob_.data() + input_offset_);  // zlib's API is not const
        stream_.avail_in = static_cast<uInt>(std::min(blob_.size() - input_offset_, kInflateInputSliceBytes));
        input_offset_ += stream_.avail_in;
      }
      const int status = inflate(&stream_, Z_NO_FLUSH);
      const std::size_t offset = input_offset_ - stream_.avail_in;
      if (status == Z_STREAM_END) {
        // pigz and eStargz write several members; gzip -d reads them as one.
        const bool next_member = starts_with_gzip_magic(blob_.subspan(offset));
        finished_ = at_end_of_stream(blob_, offset, "gzip", next_member);
        if (!finished_) inflateReset(&stream_);
      } else if (status == Z_BUF_ERROR && offset == blob_.size()) {
        fail("gzip stream ends early");
      } else if (status == Z_MEM_ERROR) {
        throw std::bad_alloc();
      } else if (status != Z_OK) {
        // Z_DATA_ERROR, or Z_NEED_DICT which no gzip stream may ask for.
        const std::string reason = stream_.msg != nullptr ? stream_.msg : fmt::format("zlib status {}", status);
        fail(fmt::format("gzip data is corrupt ({})", reason));
      }
    }
    return out_bytes - stream_.avail_out;
  }

 private:
  Bytes blob_;
  std::size_t input_offset_ = 0;  // blob bytes handed to zlib so far
  z_stream stream_{};
};

class ZstdDecoder final : public Decoder {
 public:
  ZstdDecoder(Bytes blob, std::string member_name)
      : Decoder(std::move(member_name)), blob_(blob), context_(ZSTD_createDCtx()) {
    if (context_ == nullptr) throw std::bad_alloc();
    ZSTD_DCtx_setParameter(context_.get(), ZSTD_d_windowLogMax, kMaxZstdWindowLog);
  }

  std::size_t fill(std::uint8_t* out, std::size_t capacity) override {
    ZSTD_outBuffer output{out, capacity, 0};
    while (output.pos < output.size && !finished_) {
      const std::size_t output_before = output.pos;
      const std::size_t result = ZSTD_decompressStream(context_.get(), &output, &input_);
      if (ZSTD_isError(result)) {
        if (ZSTD_getErrorCode(result) == ZSTD_error_frameParameter_windowTooLarge) {
          fail(fmt::format("zstd frame needs a window larger than the {} MiB limit", (1 << kMaxZstdWindowLog) >> 20));
        }
        fail(fmt::format("zstd data is corrupt ({})", ZSTD_getErrorName(result)));
      }
      if (result == 0) {
        // A frame is complete and flushed; more frames (or skippable ones)
        // may follow, as `zstd` itself writes for concatenated input.
        finished_ = at_end_of_stream(blob_, input_.pos, "zstd", starts_with_zstd_magic(blob_.subspan(input_.pos)));
      } else if (input_.pos == input_.size && output.pos == output_before) {
        fail("zstd stream ends early");  // mid-frame, no input left and nothing more to flush
      }
    }
    return output.pos;
  }

 private:
  struct ContextDeleter {
    void operator()(ZSTD_DCtx* context) const { ZSTD_freeDCtx(context); }
  };

  Bytes blob_;
  std::unique_ptr<ZSTD_DCtx, ContextDeleter> context_;
  ZSTD_inBuffer input_{blob_.data(), blob_.size(), 0};
};

}  // namespace

void Decoder::fail(std::string_view problem) const {
  throw FormatError(fmt::format("{}: {}", escape(member_name_), problem));
}

bool Decoder::at_end_of_stream(Bytes blob, std::size_t offset, std::string_view format, bool next_starts) const {
  const Bytes rest = blob.subspan(offset);
  if (rest.empty()) return true;
  if (next_starts) return false;
  if (is_all_zero(rest)) return true;  // block padding written by some tools
  fail(fmt::format("{} stream is followed by {} bytes of trailing garbage at offset {}", format, rest.size(), offset));
}

bool starts_with_gzip_magic(Bytes bytes) { return bytes.size() >= 2 && bytes[0] == 0x1f && bytes[1] == 0x8b; }

Compression detect_compression(Bytes blob) {
  if (starts_with_gzip_magic(blob)) return Compression::kGzip;
  if (starts_with_zstd_magic(blob)) return Compression::kZstd;
  return Compression::kNone;
}

std::string_view compression_name(Compression compression) {
  switch (compression) {
    case Compression::kNone: return "none";
    case Compression::kGzip: return "gzip";
    case Compression::kZstd: return "zstd";
  }
  return "unknown";
}

std::unique_ptr<Decoder> open_decoder(Bytes blob, std::string member_name) {
  switch (detect_compression(blob)) {
    case Compression::kGzip: {
      // isa-l inflates about 2.4x as fast as zlib (bench/inflate/README.md).
      if (knobs().inflate != InflateKnob::kZlib) {
        if (std::unique_ptr<Decoder> isal = open_isal_gzip_decoder(blob, member_name)) return isal;
      }
      return std::make_unique<ZlibGzipDecoder>(blob, std::move(member_name));
    }
    case Compression::kZstd: return std::make_unique<ZstdDecoder>(blob, std::move(member_name));
    case Compression::kNone: break;
  }
  return nullptr;
}

std::unique_ptr<ByteSource> open_decompressed(Bytes blob, std::string member_name, std::function<void()> on_decoded) {
  std::unique_ptr<Decoder> decoder = open_decoder(blob, std::move(member_name));
  if (decoder == nullptr) return std::make_unique<MemorySource>(blob);
  // Decoding on its own thread overlaps inflate with the tar reader and the
  // file writes on this one.
  if (blob.size() > kReadAheadMinBlobBytes && knobs().read_ahead) {
    return open_read_ahead_source(std::move(decoder), {}, std::move(on_decoded));
  }
  return std::make_unique<InlineSource>(std::move(decoder));
}

}  // namespace undocker::layer
