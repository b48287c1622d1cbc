// A directory listing (readdir) with an open file description of its own.
#pragma once

#include <dirent.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace undocker::fs {

struct CloseDir {
  void operator()(DIR* listing) const { closedir(listing); }
};

/// An owned DIR stream, closed on destruction.
using DirListing = std::unique_ptr<DIR, CloseDir>;

/// Opens dir_fd's directory again (`openat(dir_fd, ".")`) for readdir, from
/// its first entry. A fresh open file description on purpose: a duplicate of
/// dir_fd would share its read position, and list nothing once the directory
/// was read through dir_fd. Returns null with errno set on failure; dir_fd
/// stays the caller's.
DirListing open_listing(int dir_fd);

/// The names in dir_fd's directory but "." and "..", read through a listing
/// of its own (open_listing), in readdir's order. nullopt with errno set
/// when the directory cannot be listed or a read fails.
std::optional<std::vector<std::string>> list_names(int dir_fd);

}  // namespace undocker::fs
