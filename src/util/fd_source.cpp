#include "util/fd_source.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "util/error.hpp"
#include "util/log.hpp"

namespace undocker {

namespace {

// One read fills at most this much: the width of the pipes we read.
constexpr std::size_t kReadBytes = std::size_t{1} << 20;

}  // namespace

FdSource::FdSource(int fd, std::string name) : fd_(fd), name_(std::move(name)), buffer_(kReadBytes) {}

bool FdSource::fill() {
  for (;;) {
    const ssize_t count = read(fd_, buffer_.data() + end_, buffer_.size() - end_);
    if (count > 0) {
      end_ += static_cast<std::size_t>(count);
      return true;
    }
    if (count == 0) return false;
    if (errno == EINTR) continue;
    throw IoError(fmt::format("cannot read {}: {}", escape(name_), std::strerror(errno)));
  }
}

Bytes FdSource::take(std::size_t n) {
  const std::size_t count = n < end_ - begin_ ? n : end_ - begin_;
  const Bytes view(buffer_.data() + begin_, count);
  begin_ += count;
  position_ += count;
  return view;
}

Bytes FdSource::read_some(std::size_t max_bytes) {
  if (begin_ == end_) {
    begin_ = end_ = 0;
    fill();
  }
  return take(max_bytes);
}

Bytes FdSource::read_exact(std::size_t n) {
  if (end_ - begin_ < n) {
    // Move what is left to the front, and make room for n (a pax body may
    // be larger than one read).
    std::memmove(buffer_.data(), buffer_.data() + begin_, end_ - begin_);
    end_ -= begin_;
    begin_ = 0;
    if (buffer_.size() < n) buffer_.resize(n);
    while (end_ < n && fill()) {
    }
  }
  return take(n);
}

}  // namespace undocker
