#include "fs/fixups.hpp"

#include <fcntl.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "fs/fd.hpp"
#include "util/path.hpp"
#include "fs/root.hpp"
#include "util/error.hpp"
#include "util/log.hpp"

namespace undocker::fs {

void DirFixups::record(std::string_view clean_path, const DirMetadata& metadata) {
  pending_.insert_or_assign(std::string(clean_path), metadata);
}

void DirFixups::keep_mtime(std::string_view clean_path, tar::Timestamp mtime) {
  DirMetadata metadata;
  metadata.mtime = mtime;
  metadata.mtime_only = true;
  pending_.emplace(std::string(clean_path), metadata);  // an entry's record wins
}

void DirFixups::forget(std::string_view clean_path) {
  if (clean_path.empty()) {
    // The root itself is never removed; only what is below it.
    auto keep = pending_.find("");
    DirMetadata root_metadata;
    const bool had_root = keep != pending_.end();
    if (had_root) root_metadata = keep->second;
    pending_.clear();
    if (had_root) pending_.emplace("", root_metadata);
    return;
  }
  auto it = pending_.lower_bound(std::string(clean_path));
  while (it != pending_.end() && is_same_or_below(it->first, clean_path)) it = pending_.erase(it);
  // "a-b" sorts between "a" and "a/b": skip over such siblings.
  const std::string children = std::string(clean_path) + "/";
  it = pending_.lower_bound(children);
  while (it != pending_.end() && it->first.starts_with(children)) it = pending_.erase(it);
}

std::size_t DirFixups::apply(RootDir& root, bool set_owner) {
  std::size_t applied = 0;
  // Reverse lexical order puts "a/b" before "a": children before parents.
  for (auto it = pending_.rbegin(); it != pending_.rend(); ++it) {
    const std::string& path = it->first;
    const DirMetadata& metadata = it->second;
    Fd dir;
    if (path.empty()) {
      dir = Fd(openat(root.fd(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    } else {
      const auto [parent, leaf] = split_parent(path);
      int error = 0;
      DirFd parent_fd = root.open_dir(parent, false, error);
      if (!parent_fd) continue;  // removed since: nothing to fix
      dir = Fd(openat(parent_fd->get(), std::string(leaf).c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    }
    if (!dir.valid()) continue;  // replaced by a non-directory since
    if (metadata.mtime_only) {
      const timespec times[2] = {{0, UTIME_OMIT}, {metadata.mtime.seconds, metadata.mtime.nanoseconds}};
      if (futimens(dir.get(), times) != 0) {
        throw IoError(fmt::format("{}: cannot set mtime: {}", escape(path), std::strerror(errno)));
      }
      ++applied;
      continue;
    }
    if (set_owner && fchown(dir.get(), static_cast<uid_t>(metadata.uid), static_cast<gid_t>(metadata.gid)) != 0) {
      throw IoError(fmt::format("{}: cannot set owner: {}", escape(path), std::strerror(errno)));
    }
    // After chown, which clears setgid on some filesystems.
    if (fchmod(dir.get(), metadata.mode) != 0) {
      throw IoError(fmt::format("{}: cannot set mode: {}", escape(path), std::strerror(errno)));
    }
    const timespec times[2] = {{metadata.mtime.seconds, metadata.mtime.nanoseconds},
                               {metadata.mtime.seconds, metadata.mtime.nanoseconds}};
    if (futimens(dir.get(), times) != 0) {
      throw IoError(fmt::format("{}: cannot set mtime: {}", escape(path), std::strerror(errno)));
    }
    ++applied;
  }
  pending_.clear();
  return applied;
}

}  // namespace undocker::fs
