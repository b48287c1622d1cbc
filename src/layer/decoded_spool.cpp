#include "layer/decoded_spool.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "archive/mapping.hpp"
#include "util/error.hpp"
#include "util/knobs.hpp"
#include "util/log.hpp"

namespace undocker::layer {

namespace {

// Small reads (512-byte headers) are gathered into writes of this size.
constexpr std::size_t kSpoolBufferBytes = std::size_t{1} << 20;

int open_spool_file() {
  const std::string& dir = knobs().temp_dir;
  const int fd = open(dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  if (fd >= 0) return fd;
  // No usable $TMPDIR (missing, read-only, no O_TMPFILE): keep it in memory.
  const int memory_fd = memfd_create("undocker-layer", MFD_CLOEXEC);
  if (memory_fd >= 0) return memory_fd;
  throw IoError(fmt::format("cannot create a temporary file in {} for a decoded layer: {}", escape(dir),
                            std::strerror(errno)));
}

}  // namespace

SpoolingSource::SpoolingSource(ByteSource& inner, std::string name)
    : inner_(inner), name_(std::move(name)), fd_(open_spool_file()),
      buffer_(std::make_unique<char[]>(kSpoolBufferBytes)) {}

SpoolingSource::~SpoolingSource() {
  mapping_.reset();
  if (fd_ >= 0) close(fd_);
}

Bytes SpoolingSource::kept(Bytes bytes) {
  const char* data = reinterpret_cast<const char*>(bytes.data());
  std::size_t size = bytes.size();
  while (size > 0) {
    if (used_ == kSpoolBufferBytes) flush();
    const std::size_t count = std::min(size, kSpoolBufferBytes - used_);
    std::memcpy(buffer_.get() + used_, data, count);
    used_ += count;
    data += count;
    size -= count;
  }
  return bytes;
}

void SpoolingSource::flush() {
  std::size_t done = 0;
  while (done < used_) {
    const ssize_t count = write(fd_, buffer_.get() + done, used_ - done);
    if (count < 0 && errno == EINTR) continue;
    if (count <= 0) {
      throw IoError(fmt::format("{}: cannot keep the decoded layer in a temporary file: {}", escape(name_),
                                std::strerror(count < 0 ? errno : EIO)));
    }
    done += static_cast<std::size_t>(count);
  }
  used_ = 0;
}

Bytes SpoolingSource::finish() {
  while (!kept(inner_.read_some(kSpoolBufferBytes)).empty()) {
  }
  flush();
  mapping_ = std::make_unique<archive::MappedArchive>(fd_, name_);
  return mapping_->bytes();
}

}  // namespace undocker::layer
