#include "fs/file_pool.hpp"

#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "fs/errors.hpp"
#include "util/error.hpp"
#include "util/interrupt.hpp"
#include "util/log.hpp"
#include "fs/write_all.hpp"
#include "util/thread_name.hpp"

namespace undocker::fs {

namespace {

// Files in flight, each holding a descriptor: well under RLIMIT_NOFILE.
constexpr std::size_t kMaxQueuedFiles = 512;

std::atomic<bool> g_warned_about_xattrs{false};

void write_at(int fd, Bytes bytes, std::uint64_t offset, std::string_view clean_path, const FinishOptions& options) {
  write_all_at(fd, bytes, offset, clean_path, [&] {
    if (options.abandoned != nullptr) {
      if (options.abandoned->load(std::memory_order_relaxed)) throw FinishAbandoned{};
      check_interrupted();
    }
  });
}

}  // namespace

namespace {

template <typename SetOne>
void set_each_xattr(const std::vector<std::pair<std::string, std::string>>& xattrs, std::string_view clean_path,
                    const FinishOptions& options, SetOne set_one) {
  for (const auto& [name, value] : xattrs) {
    if (set_one(name, value) == 0) continue;
    const int error = errno;
    if (!options.privileged && (error == EPERM || error == ENOTSUP || error == EACCES)) {
      // Unprivileged: security.* and trusted.* are refused. Report once.
      if (!g_warned_about_xattrs.exchange(true)) {
        log(LogLevel::kWarning, "{}: cannot set xattr {} as non-root ({}); such xattrs are skipped",
            escape(clean_path), escape(name), std::strerror(error));
      }
      continue;
    }
    fail(clean_path, fmt::format("set xattr {}", escape(name)), error);
  }
}

}  // namespace

void set_xattrs(int fd, const std::vector<std::pair<std::string, std::string>>& xattrs, std::string_view clean_path,
                const FinishOptions& options) {
  set_each_xattr(xattrs, clean_path, options, [fd](const std::string& name, const std::string& value) {
    return fsetxattr(fd, name.c_str(), value.data(), value.size(), 0);
  });
}

void set_symlink_xattrs(int parent_fd, const std::string& leaf,
                        const std::vector<std::pair<std::string, std::string>>& xattrs, std::string_view clean_path,
                        const FinishOptions& options) {
  // A symlink cannot be opened for fsetxattr; lsetxattr on its name under
  // the parent's descriptor (through /proc) acts on the link itself.
  const std::string path = fmt::format("/proc/self/fd/{}/{}", parent_fd, leaf);
  set_each_xattr(xattrs, clean_path, options, [&path](const std::string& name, const std::string& value) {
    return lsetxattr(path.c_str(), name.c_str(), value.data(), value.size(), 0);
  });
}

void finish_file(PendingFile& file, const FinishOptions& options) {
  const int fd = file.fd.get();
  if (file.sparse) {
    // Each segment at its offset; the gaps stay holes.
    std::uint64_t consumed = 0;
    for (const tar::SparseSegment& segment : file.sparse->segments) {
      write_at(fd, file.data.subspan(consumed, segment.length), segment.offset, file.clean_path, options);
      consumed += segment.length;
    }
    if (ftruncate(fd, static_cast<off_t>(file.sparse->real_size)) != 0) fail(file.clean_path, "set the file size", errno);
  } else {
    if (!file.data.empty()) write_at(fd, file.data, 0, file.clean_path, options);
    if (!file.data_rest.empty()) write_at(fd, file.data_rest, file.data.size(), file.clean_path, options);
  }
  // The decoder may reuse the chunks now.
  file.data_pins[0].reset();
  file.data_pins[1].reset();
  if (needs_chown(options, file.uid, file.gid) &&
      fchown(fd, static_cast<uid_t>(file.uid), static_cast<gid_t>(file.gid)) != 0) {
    fail(file.clean_path, "set the owner", errno);
  }
  // The file was created with its permission bits; setuid, setgid and
  // sticky go on after chown, which would clear them.
  if ((file.mode & 07000) != 0 && fchmod(fd, file.mode) != 0) fail(file.clean_path, "set the mode", errno);
  set_xattrs(fd, file.xattrs, file.clean_path, options);
  const timespec times[2] = {{file.mtime.seconds, file.mtime.nanoseconds}, {file.mtime.seconds, file.mtime.nanoseconds}};
  if (futimens(fd, times) != 0) fail(file.clean_path, "set the mtime", errno);
  file.fd.reset();
}

FilePool::FilePool(unsigned threads, FinishOptions options, Finish finish)
    : options_(options), finish_(std::move(finish)) {
  options_.abandoned = &abandoned_;
  try {
    for (unsigned i = 0; i < threads; ++i) workers_.emplace_back([this] { work(); });
  } catch (...) {
    stop_work();  // std::thread threw (std::system_error): join those started
    throw;
  }
}

FilePool::~FilePool() { stop_work(); }

void FilePool::stop_work() {
  std::deque<PendingFile> dropped;
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    abandoned_.store(true);
    dropped.swap(queue_);
  }
  has_work_.notify_all();
  for (std::thread& worker : workers_) worker.join();
  // `dropped` closes its descriptors and releases its decoder chunks here,
  // outside the lock (a chunk takes the decoder's own lock).
}

void FilePool::rethrow_failure() {
  if (failure_) {
    std::exception_ptr failure = failure_;
    std::rethrow_exception(failure);
  }
}

void FilePool::check() {
  if (!abandoned_.load(std::memory_order_relaxed)) return;
  std::lock_guard lock(mutex_);
  rethrow_failure();
}

void FilePool::fail(std::exception_ptr failure) {
  if (!failure_) failure_ = std::move(failure);
  abandoned_.store(true);
}

void FilePool::submit(PendingFile file) {
  std::unique_lock lock(mutex_);
  has_room_.wait(lock, [this] { return queue_.size() < kMaxQueuedFiles || failure_; });
  rethrow_failure();
  queue_.push_back(std::move(file));
  // Woken every 16 files or 2 distinct decoder chunks (util/batched_wake.hpp).
  const PendingFile& queued = queue_.back();
  const bool wake = wake_.add({queued.data_pins[0].get(), queued.data_pins[1].get()});
  lock.unlock();
  if (wake) has_work_.notify_all();
}

void FilePool::drain() {
  has_work_.notify_all();
  std::unique_lock lock(mutex_);
  idle_.wait(lock, [this] { return (queue_.empty() && busy_ == 0) || failure_; });
  rethrow_failure();
}

void FilePool::work() {
  name_this_thread("undocker-write");
  for (;;) {
    std::deque<PendingFile> dropped;  // destroyed outside the lock, last
    std::unique_lock lock(mutex_);
    has_work_.wait(lock, [this] { return stopping_ || !queue_.empty() || interrupting_signal() != 0; });
    if (stopping_ || abandoned_.load()) return;
    if (interrupting_signal() != 0) {
      // The pipeline will notice between entries; stop writing now.
      try {
        check_interrupted();
      } catch (...) {
        fail(std::current_exception());
      }
      dropped.swap(queue_);
      lock.unlock();
      idle_.notify_all();
      has_room_.notify_all();
      return;
    }
    PendingFile file = std::move(queue_.front());
    queue_.pop_front();
    ++busy_;
    lock.unlock();
    has_room_.notify_one();
    // Anything thrown is kept for the main thread: an exception must never
    // leave a thread (std::terminate, no ERROR line).
    std::exception_ptr failure;
    try {
      finish_(file, options_);
    } catch (const FinishAbandoned&) {
      // Another failure came first.
    } catch (const Interrupted&) {
      failure = std::current_exception();
    } catch (const EntryError& error) {
      const std::string message = fmt::format("{}: {}", escape(file.layer_name), error.what());
      if (options_.ignore_errors) {
        log(LogLevel::kWarning, "{}", message);
      } else {
        // A plain Error: it already names the layer, and apply_layer, which
        // it may reach through submit(), must not prefix it again.
        failure = std::make_exception_ptr(Error(kExitIo, message));
      }
    } catch (const Error& error) {
      failure = std::make_exception_ptr(Error(kExitIo, fmt::format("{}: {}", escape(file.layer_name), error.what())));
    } catch (...) {
      failure = std::current_exception();  // std::bad_alloc, std::system_error, …: main() reports them
    }
    lock.lock();
    --busy_;
    if (failure) {
      fail(failure);
      dropped.swap(queue_);
    }
    const bool wake_waiters = (queue_.empty() && busy_ == 0) || failure_;
    lock.unlock();
    if (wake_waiters) {
      idle_.notify_all();
      has_room_.notify_all();
    }
  }
}

}  // namespace undocker::fs
