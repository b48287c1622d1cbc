// isa-l's streaming inflate (igzip_lib.h, 2.30) with crc_flag ISAL_GZIP
// parses each member's header itself and checks its trailer (CRC-32 and
// length). It has zlib's shape: next_in/avail_in/next_out/avail_out with
// 32-bit counts, a member's end is block_state == ISAL_BLOCK_FINISH with
// next_in just past the trailer, and isal_inflate_reset starts the next
// member. Where isa-l's verdicts differ from zlib's we check by hand, so
// both backends accept and reject the same streams with the same words.
#include "layer/inflate_isal.hpp"

#if UNDOCKER_HAVE_ISAL

#include <isa-l/igzip_lib.h>

#include <algorithm>
#include <cstdint>

#include <fmt/format.h>

namespace undocker::layer {

namespace {

// isa-l counts input in 32-bit words too; a >4 GiB blob is fed in slices.
constexpr std::size_t kInputSliceBytes = std::size_t{1} << 30;
// RFC 1952 2.3: FLG bits 5-7 are reserved and must be zero.
constexpr std::uint8_t kGzipReservedFlags = 0xe0;
constexpr std::uint8_t kGzipMethodDeflate = 8;
constexpr std::size_t kGzipTrailerBytes = 8;  // CRC-32, then ISIZE

class IsalGzipDecoder final : public Decoder {
 public:
  IsalGzipDecoder(Bytes blob, std::string member_name)
      : Decoder(std::move(member_name)), blob_(blob), state_(std::make_unique<inflate_state>()) {
    isal_inflate_init(state_.get());  // 87 KB of tables: on the heap
    state_->crc_flag = ISAL_GZIP;     // kept by isal_inflate_reset
  }

  std::size_t fill(std::uint8_t* out, std::size_t capacity) override {
    const auto out_bytes = static_cast<std::uint32_t>(std::min<std::size_t>(capacity, UINT32_MAX));
    state_->next_out = out;
    state_->avail_out = out_bytes;
    while (state_->avail_out > 0 && !finished_) {
      if (state_->avail_in == 0 && input_offset_ < blob_.size()) {
        state_->next_in = const_cast<std::uint8_t*>(blob_.data() + input_offset_);  // isa-l's API is not const
        state_->avail_in = static_cast<std::uint32_t>(std::min(blob_.size() - input_offset_, kInputSliceBytes));
        input_offset_ += state_->avail_in;
      }
      if (at_member_start_) {
        check_header_flags(input_offset_ - state_->avail_in);
        at_member_start_ = false;
      }
      const std::uint32_t in_before = state_->avail_in;
      const std::uint32_t out_before = state_->avail_out;
      const int status = isal_inflate(state_.get());
      const std::size_t offset = input_offset_ - state_->avail_in;
      if (status < 0) fail(fmt::format("gzip data is corrupt ({})", describe(status, offset)));
      if (state_->block_state == ISAL_BLOCK_FINISH) {
        // pigz and eStargz write several members; gzip -d reads them as one.
        const bool next_member = starts_with_gzip_magic(blob_.subspan(offset));
        finished_ = at_end_of_stream(blob_, offset, "gzip", next_member);
        if (!finished_) {
          isal_inflate_reset(state_.get());
          at_member_start_ = true;
        }
      } else if (state_->avail_in == in_before && state_->avail_out == out_before) {
        // Nothing read, nothing written: mid-member with the blob used up
        // (zlib's Z_BUF_ERROR). The second message guards against a spin.
        if (offset == blob_.size()) fail("gzip stream ends early");
        fail(fmt::format("gzip data is corrupt (isa-l stopped at offset {})", offset));
      }
    }
    return out_bytes - state_->avail_out;
  }

 private:
  // zlib refuses reserved header flags; isa-l ignores them. The method byte
  // is isa-l's to check (ISAL_UNSUPPORTED_METHOD), and a header cut short is
  // a truncation, found by the loop.
  void check_header_flags(std::size_t member_offset) const {
    const Bytes header = blob_.subspan(member_offset);
    if (header.size() >= 4 && header[2] == kGzipMethodDeflate && (header[3] & kGzipReservedFlags) != 0) {
      fail("gzip data is corrupt (unknown header flags set)");
    }
  }

  // zlib's words for isa-l's error codes, as the zlib decoder reports them.
  std::string describe(int status, std::size_t offset) const {
    switch (status) {
      case ISAL_INVALID_BLOCK: return "invalid block";
      case ISAL_INVALID_SYMBOL: return "invalid literal/length or distance code";
      case ISAL_INVALID_LOOKBACK: return "invalid distance too far back";
      case ISAL_INVALID_WRAPPER: return "incorrect header check";
      case ISAL_UNSUPPORTED_METHOD: return "unknown compression method";
      case ISAL_INCORRECT_CHECKSUM:
        if (state_->block_state != ISAL_BLOCK_FINISH) return "header crc mismatch";  // FHCRC
        return trailer_crc(offset) == state_->crc ? "incorrect length check" : "incorrect data check";
    }
    return fmt::format("isa-l status {}", status);
  }

  // The trailer ends where isa-l stopped reading (`offset`).
  std::uint32_t trailer_crc(std::size_t offset) const {
    if (offset < kGzipTrailerBytes) return ~state_->crc;
    const Bytes trailer = blob_.subspan(offset - kGzipTrailerBytes, 4);
    return trailer[0] | (trailer[1] << 8) | (trailer[2] << 16) | (std::uint32_t{trailer[3]} << 24);
  }

  Bytes blob_;
  std::size_t input_offset_ = 0;  // blob bytes handed to isa-l so far
  bool at_member_start_ = true;
  std::unique_ptr<inflate_state> state_;
};

}  // namespace

std::unique_ptr<Decoder> open_isal_gzip_decoder(Bytes blob, std::string member_name) {
  return std::make_unique<IsalGzipDecoder>(blob, std::move(member_name));
}

}  // namespace undocker::layer

#else

namespace undocker::layer {

std::unique_ptr<Decoder> open_isal_gzip_decoder(Bytes, std::string) { return nullptr; }

}  // namespace undocker::layer

#endif
