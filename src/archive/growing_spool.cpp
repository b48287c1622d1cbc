#include "archive/growing_spool.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>

#include <fmt/format.h>

#include "util/error.hpp"
#include "util/interrupt.hpp"
#include "util/log.hpp"
#include "util/thread_name.hpp"

namespace undocker::archive {

namespace {

// What the outer reader maps at a time: a few mappings for a large layer,
// and headers in between read without a new one.
constexpr std::uint64_t kWindowBytes = std::uint64_t{64} << 20;

// How often a waiting reader looks for a signal.
constexpr auto kWaitSlice = std::chrono::milliseconds(50);

// Thrown into the copy by waiting() when the owner stops it; never reported.
struct CopyStopped {};

}  // namespace

MappedRange::MappedRange(int fd, std::uint64_t offset, std::size_t size, const std::string& name) {
  if (size == 0) return;
  const std::uint64_t page = static_cast<std::uint64_t>(sysconf(_SC_PAGESIZE));
  const std::uint64_t start = offset / page * page;
  length_ = static_cast<std::size_t>(offset - start) + size;
  base_ = mmap(nullptr, length_, PROT_READ, MAP_SHARED, fd, static_cast<off_t>(start));
  if (base_ == MAP_FAILED) {
    base_ = nullptr;
    throw IoError(fmt::format("cannot map {}: {}", escape(name), std::strerror(errno)));
  }
  bytes_ = Bytes(static_cast<const std::uint8_t*>(base_) + (offset - start), size);
}

MappedRange::~MappedRange() {
  if (base_) munmap(base_, length_);
}

MappedRange::MappedRange(MappedRange&& other) noexcept
    : base_(std::exchange(other.base_, nullptr)), length_(std::exchange(other.length_, 0)),
      bytes_(std::exchange(other.bytes_, Bytes())) {}

MappedRange& MappedRange::operator=(MappedRange&& other) noexcept {
  if (this != &other) {
    if (base_) munmap(base_, length_);
    base_ = std::exchange(other.base_, nullptr);
    length_ = std::exchange(other.length_, 0);
    bytes_ = std::exchange(other.bytes_, Bytes());
  }
  return *this;
}

GrowingSpool::GrowingSpool(int in_fd, std::string name) : fd_(open_unlinked_temp_file()), name_(std::move(name)) {
  thread_ = std::thread([this, in_fd] {
    name_this_thread("undocker-spool");
    std::exception_ptr failure;
    try {
      copy_input(in_fd, fd_, name_, this);
    } catch (const CopyStopped&) {
    } catch (...) {
      failure = std::current_exception();
    }
    {
      std::lock_guard lock(mutex_);
      failure_ = failure;
      ended_ = true;
    }
    grew_.notify_all();
  });
}

GrowingSpool::~GrowingSpool() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  join();
  close(fd_);
}

void GrowingSpool::join() {
  if (thread_.joinable()) thread_.join();
}

void GrowingSpool::advanced(std::uint64_t total) {
  {
    std::lock_guard lock(mutex_);
    spooled_ = total;
  }
  grew_.notify_all();
}

void GrowingSpool::waiting() {
  std::lock_guard lock(mutex_);
  if (stop_) throw CopyStopped{};
}

std::uint64_t GrowingSpool::available_up_to(std::uint64_t end) {
  std::unique_lock lock(mutex_);
  for (;;) {
    if (spooled_ >= end) return end;
    if (ended_) return spooled_;
    grew_.wait_for(lock, kWaitSlice);
    lock.unlock();
    check_interrupted();
    lock.lock();
  }
}

std::uint64_t GrowingSpool::spooled() {
  std::lock_guard lock(mutex_);
  return spooled_;
}

int GrowingSpool::finish() {
  {
    std::unique_lock lock(mutex_);
    while (!ended_) {
      grew_.wait_for(lock, kWaitSlice);
      lock.unlock();
      check_interrupted();
      lock.lock();
    }
  }
  join();
  if (failure_) std::rethrow_exception(failure_);
  return fd_;
}

std::size_t GrowingSource::map_window(std::size_t want) {
  const std::uint64_t end = spool_.available_up_to(position_ + want);
  if (end <= position_) return 0;
  const std::uint64_t span = std::max(end, std::min(spool_.spooled(), position_ + kWindowBytes)) - position_;
  window_ = MappedRange();
  window_ = MappedRange(spool_.fd(), position_, static_cast<std::size_t>(span), spool_.name());
  window_offset_ = position_;
  return static_cast<std::size_t>(end - position_);
}

std::size_t GrowingSource::in_window() const {
  const std::uint64_t window_end = window_offset_ + window_.bytes().size();
  return position_ >= window_offset_ && position_ < window_end ? static_cast<std::size_t>(window_end - position_) : 0;
}

Bytes GrowingSource::read_some(std::size_t max_bytes) {
  std::size_t available = in_window();
  if (available == 0 && map_window(1) == 0) return {};
  available = in_window();
  const std::size_t count = std::min(max_bytes, available);
  Bytes view = window_.bytes().subspan(static_cast<std::size_t>(position_ - window_offset_), count);
  position_ += count;
  return view;
}

Bytes GrowingSource::read_exact(std::size_t n) {
  // Short only at the end of the input, as at the end of a file.
  const std::size_t count = in_window() >= n ? n : map_window(n);
  if (count == 0) return {};
  Bytes view = window_.bytes().subspan(static_cast<std::size_t>(position_ - window_offset_), count);
  position_ += count;
  return view;
}

std::size_t SpoolRangeSource::in_window() const {
  if (windows_.empty()) return 0;
  const std::uint64_t window_end = window_start_ + windows_.back().bytes().size();
  return position_ >= window_start_ && position_ < window_end ? static_cast<std::size_t>(window_end - position_) : 0;
}

std::size_t SpoolRangeSource::map_window(std::size_t want) {
  const std::uint64_t start = offset_ + position_;
  const std::uint64_t end = spool_.available_up_to(start + want);
  if (end <= start) return 0;
  const std::uint64_t limit = offset_ + size_;
  const std::uint64_t span = std::max(end, std::min(spool_.spooled(), limit)) - start;
  windows_.emplace_back(spool_.fd(), start, static_cast<std::size_t>(span), spool_.name());
  window_start_ = position_;
  return static_cast<std::size_t>(end - start);
}

Bytes SpoolRangeSource::take(std::size_t count) {
  Bytes view = windows_.back().bytes().subspan(static_cast<std::size_t>(position_ - window_start_), count);
  position_ += count;
  return view;
}

Bytes SpoolRangeSource::read_some(std::size_t max_bytes) {
  // Whole, as from a mapping: a file's data is one view for the workers
  // (stable_views), so this waits for all of it.
  return read_exact(max_bytes);
}

Bytes SpoolRangeSource::read_exact(std::size_t n) {
  const std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(n, size_ - position_));
  if (want == 0) return {};
  const std::size_t count = in_window() >= want ? want : map_window(want);
  if (count == 0) return {};
  return take(count);
}

}  // namespace undocker::archive
