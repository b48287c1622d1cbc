#include "fs/dir_listing.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <string_view>

namespace undocker::fs {

DirListing open_listing(int dir_fd) {
  const int listing_fd = openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (listing_fd < 0) return nullptr;
  DirListing listing(fdopendir(listing_fd));
  if (!listing) {
    // fdopendir took nothing over: close the descriptor, keep its errno.
    const int error = errno;
    close(listing_fd);
    errno = error;
  }
  return listing;
}

std::optional<std::vector<std::string>> list_names(int dir_fd) {
  const DirListing listing = open_listing(dir_fd);
  if (!listing) return std::nullopt;
  std::vector<std::string> names;
  for (;;) {
    errno = 0;  // readdir tells its end from a failure only by errno
    const dirent* item = readdir(listing.get());
    if (item == nullptr) break;
    const std::string_view name = item->d_name;
    if (name != "." && name != "..") names.emplace_back(name);
  }
  if (errno != 0) return std::nullopt;
  return names;
}

}  // namespace undocker::fs
