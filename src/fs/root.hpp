// The output directory, and the only way undocker reaches anything on disk.
// Every path is resolved inside it as if it were "/" (as chroot and Docker
// do): "..", absolute symlinks and relative ones can never lead out. The
// last component of a path is never followed: callers act on it with *at()
// calls and AT_SYMLINK_NOFOLLOW, so a symlink there is replaced, never
// written through.
#pragma once

#include <array>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "fs/fd.hpp"

namespace undocker::fs {

/// A directory descriptor shared with RootDir's cache: holding one keeps
/// it open even if the cache moves on (no dup()/close() per entry).
using DirFd = std::shared_ptr<const Fd>;

class RootDir {
 public:
  /// Opens (creating it and its parents if missing) the output directory.
  explicit RootDir(const std::string& path);

  /// Takes the already open output directory dir (see fs/output_dir);
  /// display names it in messages.
  RootDir(Fd dir, std::string display);

  int fd() const { return root_->get(); }
  const std::string& path() const { return path_; }

  /// True when the directory held nothing when it was opened.
  bool was_empty() const { return was_empty_; }

  /// Opens the directory at clean_dir ("" is the root), following symlinks
  /// inside the root. With create, missing directories are made (0755), as
  /// tar and Docker make them. On failure returns null and sets error to
  /// the errno.
  DirFd open_dir(std::string_view clean_dir, bool create, int& error);

  /// Drops any cached resolution; called whenever something is removed.
  void forget_cache();

 private:
  Fd open_with_openat2(std::string_view clean_dir, int& error);
  Fd walk(std::string_view clean_dir, bool create, int& error);

  std::shared_ptr<Fd> root_;
  std::string path_;
  bool have_openat2_ = true;
  bool was_empty_ = false;
  // The directories opened last, and their fds. Entries of one directory
  // come together in a tar stream, but its subdirectories' come in between:
  // a few entries keep the parent's resolution for when the stream returns.
  struct CachedDir {
    std::string path;
    DirFd fd;
  };
  static constexpr std::size_t kCachedDirs = 8;
  std::array<CachedDir, kCachedDirs> cache_;
  std::size_t next_evicted_ = 0;  // the oldest entry, replaced next
};

/// True when the directory open on dir_fd holds no entry but "." and "..".
bool is_empty_directory(int dir_fd);

}  // namespace undocker::fs
