#include "fs/write_all.hpp"

#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "fs/errors.hpp"

namespace undocker::fs {

void write_all_at(int fd, Bytes bytes, std::uint64_t offset, std::string_view clean_path,
                  const std::function<void()>& before_piece) {
  constexpr std::size_t kPieceBytes = std::size_t{1} << 20;
  std::size_t done = 0;
  while (done < bytes.size()) {
    before_piece();
    const std::size_t want = std::min(bytes.size() - done, kPieceBytes);
    const ssize_t written = pwrite(fd, bytes.data() + done, want, static_cast<off_t>(offset + done));
    if (written < 0) {
      if (errno == EINTR) continue;
      fail(clean_path, "write data", errno);
    }
    done += static_cast<std::size_t>(written);
  }
}

}  // namespace undocker::fs
