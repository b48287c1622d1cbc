#include "layer/header_blocks.hpp"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <vector>

#include "tar/header.hpp"

namespace undocker::layer {

namespace {

constexpr std::uint64_t kPageBytes = 4096;

}  // namespace

HeaderBlocks::HeaderBlocks(Bytes stream, std::optional<FileRange> file, std::size_t window_bytes)
    : stream_(stream), file_(file), window_bytes_(std::max(window_bytes, tar::kBlockSize)) {
  if (file_) window_ = std::make_unique<std::uint8_t[]>(window_bytes_);
}

const std::uint8_t* HeaderBlocks::block(std::uint64_t offset) {
  if (!file_) return stream_.data() + offset;
  if (offset >= window_begin_ && offset + tar::kBlockSize <= window_end_) {
    return window_.get() + (offset - window_begin_);
  }
  // The window ends at a page boundary of the file where it can: a read
  // that stops short of one more page costs less than the bytes it gives.
  std::uint64_t end = offset + window_bytes_;
  const std::uint64_t file_page_end = (file_->offset + end) / kPageBytes * kPageBytes;
  if (file_page_end >= file_->offset + offset + tar::kBlockSize) end = file_page_end - file_->offset;
  const auto want = static_cast<std::size_t>(std::min<std::uint64_t>(end, stream_.size()) - offset);
  ssize_t got;
  do {
    got = pread(file_->fd, window_.get(), want, static_cast<off_t>(file_->offset + offset));
  } while (got < 0 && errno == EINTR);
  if (got < static_cast<ssize_t>(tar::kBlockSize)) {
    // The mapping is the same file: let it say what is wrong, if anything.
    window_begin_ = window_end_ = 0;
    return stream_.data() + offset;
  }
  window_begin_ = offset;
  window_end_ = offset + static_cast<std::uint64_t>(got);
  return window_.get();
}

namespace {

// Reads by pread into a buffer of its own: views last until the next read.
class PreadSource final : public ByteSource {
 public:
  PreadSource(Bytes stream, FileRange file, std::uint64_t start)
      : stream_(stream), file_(file), position_(std::min<std::uint64_t>(start, stream.size())) {}

  Bytes read_some(std::size_t max_bytes) override { return take(std::min(max_bytes, kReadSomeBytes)); }
  Bytes read_exact(std::size_t n) override { return take(n); }
  std::uint64_t position() const override { return position_; }

 private:
  // A skip over file data goes by in pieces this large (rare: the walk
  // leaves a reader once its entry is read).
  static constexpr std::size_t kReadSomeBytes = std::size_t{64} << 10;

  Bytes take(std::size_t n) {
    const auto count = static_cast<std::size_t>(std::min<std::uint64_t>(n, stream_.size() - position_));
    if (buffer_.size() < count) buffer_.resize(count);
    std::size_t done = 0;
    while (done < count) {
      const ssize_t got = pread(file_.fd, buffer_.data() + done, count - done,
                                static_cast<off_t>(file_.offset + position_ + done));
      if (got < 0 && errno == EINTR) continue;
      if (got <= 0) break;
      done += static_cast<std::size_t>(got);
    }
    // The mapping is the same file: let it say what is wrong, if anything.
    if (done < count) std::copy_n(stream_.data() + position_ + done, count - done, buffer_.data() + done);
    position_ += count;
    return Bytes(buffer_.data(), count);
  }

  Bytes stream_;
  FileRange file_;
  std::uint64_t position_;
  std::vector<std::uint8_t> buffer_;
};

}  // namespace

std::unique_ptr<ByteSource> open_header_source(Bytes stream, std::optional<FileRange> file, std::uint64_t start) {
  if (!file) return std::make_unique<MemorySource>(stream, static_cast<std::size_t>(start));
  return std::make_unique<PreadSource>(stream, *file, start);
}

}  // namespace undocker::layer
