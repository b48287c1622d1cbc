#include "fs/dir_listing.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

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

}  // namespace undocker::fs
