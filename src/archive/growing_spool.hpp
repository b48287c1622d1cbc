// A pipe spooled on a thread of its own, so that members can be read while
// the rest of the archive is still arriving (pipeline/speculation.hpp).
// Only bytes already in the file are ever mapped: a page past the file's
// end would fault (SIGBUS).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <exception>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "archive/spool.hpp"
#include "util/byte_source.hpp"
#include "util/bytes.hpp"

namespace undocker::archive {

/// Read-only mapping of part of a file (page-aligned inside).
class MappedRange {
 public:
  MappedRange() = default;
  /// Maps [offset, offset + size) of fd; throws IoError.
  MappedRange(int fd, std::uint64_t offset, std::size_t size, const std::string& name);
  ~MappedRange();
  MappedRange(MappedRange&& other) noexcept;
  MappedRange& operator=(MappedRange&& other) noexcept;
  Bytes bytes() const { return bytes_; }

 private:
  void* base_ = nullptr;
  std::size_t length_ = 0;
  Bytes bytes_;
};

class GrowingSpool final : private SpoolListener {
 public:
  /// Starts copying in_fd into an unlinked temporary file (as
  /// spool_to_temp_file does); `name` names the input in messages.
  GrowingSpool(int in_fd, std::string name);
  /// Stops the copy (within 50 ms of a stalled input) and closes the file.
  ~GrowingSpool();
  GrowingSpool(const GrowingSpool&) = delete;
  GrowingSpool& operator=(const GrowingSpool&) = delete;

  /// Waits until the first `end` bytes are in the file: true; false when
  /// the input ended or the copy failed first. Throws Interrupted on a signal.
  bool wait_for(std::uint64_t end) { return available_up_to(end) == end; }

  /// Waits until the first `end` bytes are in the file or the copy ended;
  /// returns how many of them are there. Throws Interrupted on a signal.
  std::uint64_t available_up_to(std::uint64_t end);

  /// Bytes in the file now, without waiting.
  std::uint64_t spooled();

  /// Waits for the end of the input and returns the file's descriptor
  /// (still owned here); throws what the copy threw, as spool_to_temp_file.
  int finish();

  int fd() const { return fd_; }
  const std::string& name() const { return name_; }

 private:
  void advanced(std::uint64_t total) override;
  void waiting() override;
  void join();

  int fd_ = -1;
  std::string name_;
  std::mutex mutex_;
  std::condition_variable grew_;
  std::uint64_t spooled_ = 0;
  bool ended_ = false;  // the copy returned or threw
  bool stop_ = false;   // the owner is going away
  std::exception_ptr failure_;
  std::thread thread_;  // last: starts once everything above exists
};

/// The spool as a stream, for the outer tar reader: each read waits for the
/// bytes it needs. Views are of a mapped window of what is already spooled,
/// valid until the next read; nothing is copied.
class GrowingSource final : public ByteSource {
 public:
  explicit GrowingSource(GrowingSpool& spool) : spool_(spool) {}
  Bytes read_some(std::size_t max_bytes) override;
  Bytes read_exact(std::size_t n) override;
  std::uint64_t position() const override { return position_; }

 private:
  // Maps a window at position_ holding up to `want` bytes (waiting for
  // them, or for the end of the input) and whatever more is already
  // spooled; returns how many of the `want` bytes it holds.
  std::size_t map_window(std::size_t want);
  // Bytes of the window from position_ on (0 when outside it).
  std::size_t in_window() const;

  GrowingSpool& spool_;
  std::uint64_t position_ = 0;
  MappedRange window_;
  std::uint64_t window_offset_ = 0;
};

/// One member of the spool, [offset, offset + size), as a stream that can be
/// read while it still arrives: each read waits for what it needs. Every
/// window mapped stays mapped until the source goes, so views are stable
/// (file workers may keep them) — the mapped pages are the spool's page
/// cache, not memory of ours. Like a view of a mapping, read_some gives
/// all it is asked for (waiting for it); less only at the member's end, or
/// where the input ended early.
class SpoolRangeSource final : public ByteSource {
 public:
  SpoolRangeSource(GrowingSpool& spool, std::uint64_t offset, std::uint64_t size)
      : spool_(spool), offset_(offset), size_(size) {}
  Bytes read_some(std::size_t max_bytes) override;
  Bytes read_exact(std::size_t n) override;
  std::uint64_t position() const override { return position_; }
  bool stable_views() const override { return true; }

 private:
  // Bytes of the last window from position_ on (0 when outside it).
  std::size_t in_window() const;
  // Maps a window at position_ with at least `want` bytes if the input has
  // them, and what else is spooled already; returns how many it holds.
  std::size_t map_window(std::size_t want);
  Bytes take(std::size_t count);

  GrowingSpool& spool_;
  std::uint64_t offset_;
  std::uint64_t size_;
  std::uint64_t position_ = 0;  // within the member
  std::vector<MappedRange> windows_;
  std::uint64_t window_start_ = 0;  // member offset of the last window
};

}  // namespace undocker::archive
