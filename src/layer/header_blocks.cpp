#include "layer/header_blocks.hpp"

#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "tar/header.hpp"

namespace undocker::layer {

HeaderBlocks::HeaderBlocks(Bytes stream, std::optional<FileRange> file, std::size_t window_bytes)
    : stream_(stream), file_(file), window_bytes_(std::max(window_bytes, tar::kBlockSize)) {
  if (file_) window_ = std::make_unique<std::uint8_t[]>(window_bytes_);
}

const std::uint8_t* HeaderBlocks::block(std::uint64_t offset) {
  if (!file_) return stream_.data() + offset;
  if (offset >= window_begin_ && offset + tar::kBlockSize <= window_end_) return window_.get() + (offset - window_begin_);
  const std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(window_bytes_, stream_.size() - offset));
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

}  // namespace undocker::layer
