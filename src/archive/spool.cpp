#include "archive/spool.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/uio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <vector>

#include <fmt/format.h>

#include "util/error.hpp"
#include "util/knobs.hpp"
#include "util/interrupt.hpp"
#include "util/log.hpp"

namespace undocker::archive {

namespace {

std::string temp_directory() { return knobs().temp_dir; }

}  // namespace

int open_unlinked_temp_file() {
  const std::string dir = temp_directory();
  // O_TMPFILE makes a file that never has a name; where the filesystem
  // lacks it, mkstemp and unlink at once.
  int fd = open(dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  if (fd >= 0) return fd;
  std::string pattern = dir + "/undocker-spool-XXXXXX";
  fd = mkostemp(pattern.data(), O_CLOEXEC);
  if (fd < 0) {
    throw IoError(fmt::format("cannot create a temporary file in {}: {}", escape(dir), std::strerror(errno)));
  }
  unlink(pattern.c_str());
  return fd;
}

namespace {

void write_all(int fd, const char* data, std::size_t size, const std::string& dir) {
  while (size > 0) {
    const ssize_t written = write(fd, data, size);
    if (written < 0) {
      if (errno == EINTR) continue;
      throw IoError(fmt::format("cannot write the temporary copy of the input in {}: {}", escape(dir),
                                std::strerror(errno)));
    }
    data += written;
    size -= static_cast<std::size_t>(written);
  }
}

constexpr int kPipeBytes = 1 << 20;

// How long a read of a stalled input waits before looking for a signal:
// SIGINT, SIGTERM and SIGHUP end the run within about this long even when
// the writer of the pipe has stopped.
constexpr int kStalledInputPollMs = 50;

// Returns once in_fd has data or its end (or poll cannot tell); throws
// Interrupted when a signal arrives meanwhile.
void wait_readable(int in_fd, SpoolListener* listener) {
  pollfd waiting{in_fd, POLLIN, 0};
  for (;;) {
    const int ready = poll(&waiting, 1, kStalledInputPollMs);
    check_interrupted();
    if (listener) listener->waiting();
    if (ready != 0 && !(ready < 0 && errno == EINTR)) return;
  }
}

// Moves pipe buffers into the file's page cache without copying them
// through user space. Returns false if splice does not apply (not a pipe).
bool splice_all(int in_fd, int out_fd, const std::string& name, SpoolListener* listener) {
  // The default 64 KiB pipe makes the writer and this loop take turns every
  // 16 pages; 1 MiB (the unprivileged maximum) halves the spool's time
  // (bench/RESULTS.md). Refused or not a pipe: carry on as it is.
  (void)fcntl(in_fd, F_SETPIPE_SZ, kPipeBytes);
  loff_t offset = 0;
  for (;;) {
    wait_readable(in_fd, listener);
    const ssize_t moved = splice(in_fd, nullptr, out_fd, &offset, std::size_t{1} << 20, SPLICE_F_MOVE | SPLICE_F_MORE);
    check_interrupted();
    if (moved > 0) {
      if (listener) listener->advanced(static_cast<std::uint64_t>(offset));
      continue;
    }
    if (moved == 0) return true;
    if (errno == EINTR) continue;
    if (offset == 0 && (errno == EINVAL || errno == ENOSYS)) return false;
    throw IoError(fmt::format("cannot copy {} into a temporary file in {}: {}", escape(name), escape(temp_directory()),
                              std::strerror(errno)));
  }
}

}  // namespace

void copy_input(int in_fd, int out_fd, const std::string& name, SpoolListener* listener) {
  if (splice_all(in_fd, out_fd, name, listener)) return;
  std::vector<char> buffer(std::size_t{1} << 20);
  std::uint64_t total = 0;
  for (;;) {
    wait_readable(in_fd, listener);
    const ssize_t got = read(in_fd, buffer.data(), buffer.size());
    check_interrupted();
    if (got < 0) {
      if (errno == EINTR) continue;
      throw IoError(fmt::format("cannot read {}: {}", escape(name), std::strerror(errno)));
    }
    if (got == 0) return;
    write_all(out_fd, buffer.data(), static_cast<std::size_t>(got), temp_directory());
    total += static_cast<std::uint64_t>(got);
    if (listener) listener->advanced(total);
  }
}

int spool_to_temp_file(int in_fd, const std::string& name) {
  const int fd = open_unlinked_temp_file();
  try {
    copy_input(in_fd, fd, name, nullptr);
  } catch (...) {
    close(fd);
    throw;
  }
  return fd;
}

bool stdin_needs_spool(const std::string& path) {
  struct stat st {};
  return (path.empty() || path == "-") && fstat(STDIN_FILENO, &st) == 0 && !S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode);
}

InputFile::InputFile(const std::string& path) {
  if (path.empty() || path == "-") {
    fd_ = STDIN_FILENO;
    name_ = "<stdin>";
  } else {
    fd_ = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd_ < 0) throw IoError(fmt::format("cannot open {}: {}", escape(path), std::strerror(errno)));
    owns_fd_ = true;
    name_ = path;
  }
  struct stat st {};
  if (fstat(fd_, &st) != 0) {
    throw IoError(fmt::format("cannot stat {}: {}", escape(name_), std::strerror(errno)));
  }
  if (S_ISDIR(st.st_mode)) {
    directory_ = true;
  } else if (!S_ISREG(st.st_mode)) {
    const int spool_fd = spool_to_temp_file(fd_, name_);
    if (owns_fd_) close(fd_);
    fd_ = spool_fd;
    owns_fd_ = true;
    spooled_ = true;
  }
}

int InputFile::release_fd() {
  const int fd = owns_fd_ ? fd_ : fcntl(fd_, F_DUPFD_CLOEXEC, 0);
  if (fd < 0) throw IoError(fmt::format("cannot use {}: {}", escape(name_), std::strerror(errno)));
  owns_fd_ = false;
  fd_ = -1;
  return fd;
}

InputFile::~InputFile() {
  if (owns_fd_) close(fd_);
}

}  // namespace undocker::archive
