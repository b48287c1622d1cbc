#include "fs/layer_dir_writer.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <unordered_map>

#include <fmt/format.h>

#include "fs/errors.hpp"
#include "fs/fd.hpp"
#include "util/error.hpp"
#include "util/interrupt.hpp"
#include "util/log.hpp"
#include "util/path.hpp"
#include "fs/write_all.hpp"

namespace undocker::fs {

namespace {

// Opens clean_dir below root_fd one component at a time, never following
// a symlink. Keeps the last directory opened: entries come depth first,
// siblings one after another.
class DirOpener {
 public:
  explicit DirOpener(int root_fd) : root_fd_(root_fd) {}

  int open(const std::string& clean_dir) {
    if (clean_dir.empty()) return root_fd_;
    if (cached_.valid() && cached_path_ == clean_dir) return cached_.get();
    Fd current;
    int at = root_fd_;
    for (const std::string& part : split_components(clean_dir)) {
      Fd next(openat(at, part.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (!next.valid()) fail(clean_dir, "open the directory", errno);
      current = std::move(next);
      at = current.get();
    }
    cached_ = std::move(current);
    cached_path_ = clean_dir;
    return cached_.get();
  }

 private:
  int root_fd_;
  Fd cached_;
  std::string cached_path_;
};

void write_all(int fd, Bytes bytes, std::uint64_t offset, std::string_view clean_path) {
  write_all_at(fd, bytes, offset, clean_path, [] { check_interrupted(); });
}

// A regular file's data, from its layer's stream; a sparse one's holes stay holes.
void write_data(int fd, const layer::TreeInode& inode, Bytes stream, const std::string& member,
                std::string_view clean_path) {
  if (inode.data_offset > stream.size() || inode.stored_bytes > stream.size() - inode.data_offset) {
    throw FormatError(fmt::format("{}: {}: data runs past the end of the layer", escape(member), escape(clean_path)));
  }
  const Bytes data =
      stream.subspan(static_cast<std::size_t>(inode.data_offset), static_cast<std::size_t>(inode.stored_bytes));
  if (!inode.sparse) {
    write_all(fd, data, 0, clean_path);
    return;
  }
  std::size_t taken = 0;
  for (const tar::SparseSegment& segment : inode.sparse->segments) {
    write_all(fd, data.subspan(taken, static_cast<std::size_t>(segment.length)), segment.offset, clean_path);
    taken += static_cast<std::size_t>(segment.length);
  }
  if (ftruncate(fd, static_cast<off_t>(inode.sparse->real_size)) != 0) fail(clean_path, "set the file size", errno);
}

void check_xattrs(const layer::TreeInode& inode, std::string_view clean_path, const LayerDirOptions& options) {
  for (const auto& xattr : inode.xattrs) {
    if (xattr.first.starts_with(options.overlay_prefix)) {
      throw FormatError(fmt::format("{}: xattr {} cannot be stored in an overlayfs layer, which would take it for "
                                    "its own",
                                    escape(clean_path), escape(xattr.first)));
    }
  }
}

// Sets xattrs on the object at parent_fd/leaf (the link itself for a
// symlink), through /proc as fs/file_pool does for symlinks.
void set_xattrs_at(int parent_fd, const std::string& leaf, const std::vector<std::pair<std::string, std::string>>& xattrs,
                   std::string_view clean_path) {
  if (xattrs.empty()) return;
  const std::string path = fmt::format("/proc/self/fd/{}/{}", parent_fd, leaf);
  for (const auto& [name, value] : xattrs) {
    if (lsetxattr(path.c_str(), name.c_str(), value.data(), value.size(), 0) != 0) {
      fail(clean_path, fmt::format("set xattr {}", escape(name)), errno);
    }
  }
}

struct DirMetadata {
  std::string path;
  std::uint32_t inode;
};

}  // namespace

void write_layer_dir(int dir_fd, const layer::FinalTree& tree, const std::vector<layer::LayerDirEntry>& entries,
                     const std::vector<Bytes>& streams, const std::vector<std::string>& members,
                     const LayerDirOptions& options) {
  DirOpener opener(dir_fd);
  std::unordered_map<std::uint32_t, std::string> first_name;  // of files written, for their other names
  std::vector<DirMetadata> directories;
  for (const layer::LayerDirEntry& entry : entries) {
    check_interrupted();
    const auto [parent_path, leaf_view] = split_parent(entry.path);
    const std::string leaf(leaf_view);
    const std::string& clean_path = entry.path;
    if (entry.kind == layer::LayerDirEntry::Kind::kWhiteout) {
      const int parent_fd = opener.open(std::string(parent_path));
      if (mknodat(parent_fd, leaf.c_str(), S_IFCHR, makedev(0, 0)) != 0) fail(clean_path, "create the whiteout", errno);
      continue;
    }
    const layer::TreeInode& inode = tree.inode(entry.inode);
    check_xattrs(inode, clean_path, options);
    if (inode.type == tar::EntryType::kDirectory) {
      int parent_fd = dir_fd;
      if (!clean_path.empty()) {
        parent_fd = opener.open(std::string(parent_path));
        // Owner-writable until its metadata is set, at the end.
        if (mkdirat(parent_fd, leaf.c_str(), 0700) != 0) fail(clean_path, "create the directory", errno);
      }
      std::vector<std::pair<std::string, std::string>> xattrs = inode.xattrs;
      if (entry.opaque) xattrs.emplace_back(options.opaque_xattr, "y");
      if (clean_path.empty()) {
        for (const auto& [name, value] : xattrs) {
          if (fsetxattr(dir_fd, name.c_str(), value.data(), value.size(), 0) != 0) {
            fail("./", fmt::format("set xattr {}", escape(name)), errno);
          }
        }
      } else {
        set_xattrs_at(parent_fd, leaf, xattrs, clean_path);
      }
      directories.push_back(DirMetadata{clean_path, entry.inode});
      continue;
    }
    const int parent_fd = opener.open(std::string(parent_path));
    if (inode.type == tar::EntryType::kFile) {
      auto [first, fresh] = first_name.emplace(entry.inode, clean_path);
      if (!fresh) {
        // Another name of a file written in this layer: the same inode.
        const auto [first_parent, first_leaf] = split_parent(first->second);
        DirOpener first_opener(dir_fd);
        const int first_fd = first_opener.open(std::string(first_parent));
        if (linkat(first_fd, std::string(first_leaf).c_str(), parent_fd, leaf.c_str(), 0) != 0) {
          fail(clean_path, fmt::format("link to {}", escape(first->second)), errno);
        }
        continue;
      }
      Fd file(openat(parent_fd, leaf.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
      if (!file.valid()) fail(clean_path, "create the file", errno);
      if (inode.layer >= streams.size()) throw FormatError(fmt::format("{}: no layer holds its data", escape(clean_path)));
      write_data(file.get(), inode, streams[inode.layer], members[inode.layer], clean_path);
      if (options.set_owner && fchown(file.get(), static_cast<uid_t>(inode.uid), static_cast<gid_t>(inode.gid)) != 0) {
        fail(clean_path, "set the owner", errno);
      }
      // After chown, which would clear setuid and setgid.
      if (fchmod(file.get(), inode.mode & 07777) != 0) fail(clean_path, "set the mode", errno);
      for (const auto& [name, value] : inode.xattrs) {
        if (fsetxattr(file.get(), name.c_str(), value.data(), value.size(), 0) != 0) {
          fail(clean_path, fmt::format("set xattr {}", escape(name)), errno);
        }
      }
      const timespec times[2] = {{inode.mtime.seconds, inode.mtime.nanoseconds}, {inode.mtime.seconds, inode.mtime.nanoseconds}};
      if (futimens(file.get(), times) != 0) fail(clean_path, "set the mtime", errno);
      continue;
    }
    if (inode.type == tar::EntryType::kSymlink) {
      if (symlinkat(inode.link_target.c_str(), parent_fd, leaf.c_str()) != 0) fail(clean_path, "create the symlink", errno);
    } else {
      if (inode.type == tar::EntryType::kCharDevice && inode.dev_major == 0 && inode.dev_minor == 0) {
        throw FormatError(fmt::format("{}: a 0/0 character device cannot be stored in an overlayfs layer, which "
                                      "would take it for a whiteout",
                                      escape(clean_path)));
      }
      const mode_t type = inode.type == tar::EntryType::kCharDevice    ? S_IFCHR
                          : inode.type == tar::EntryType::kBlockDevice ? S_IFBLK
                                                                       : S_IFIFO;
      if (mknodat(parent_fd, leaf.c_str(), type | (inode.mode & 0777), makedev(inode.dev_major, inode.dev_minor)) != 0) {
        fail(clean_path, "create the node", errno);
      }
    }
    const bool symlink = inode.type == tar::EntryType::kSymlink;
    if (options.set_owner && fchownat(parent_fd, leaf.c_str(), static_cast<uid_t>(inode.uid),
                                      static_cast<gid_t>(inode.gid), AT_SYMLINK_NOFOLLOW) != 0) {
      fail(clean_path, "set the owner", errno);
    }
    if (!symlink && fchmodat(parent_fd, leaf.c_str(), inode.mode & 07777, 0) != 0) fail(clean_path, "set the mode", errno);
    set_xattrs_at(parent_fd, leaf, inode.xattrs, clean_path);
    const timespec times[2] = {{inode.mtime.seconds, inode.mtime.nanoseconds}, {inode.mtime.seconds, inode.mtime.nanoseconds}};
    if (utimensat(parent_fd, leaf.c_str(), times, AT_SYMLINK_NOFOLLOW) != 0) fail(clean_path, "set the mtime", errno);
  }
  // Directory metadata last, deepest first: writing into a directory
  // changes its mtime, and a read-only one could not be written into.
  for (auto dir = directories.rbegin(); dir != directories.rend(); ++dir) {
    const layer::TreeInode& inode = tree.inode(dir->inode);
    Fd handle;
    int fd = dir_fd;
    if (!dir->path.empty()) {
      const auto [parent_path, leaf] = split_parent(dir->path);
      handle = Fd(openat(opener.open(std::string(parent_path)), std::string(leaf).c_str(),
                         O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (!handle.valid()) fail(dir->path, "open the directory", errno);
      fd = handle.get();
    }
    if (options.set_owner && fchown(fd, static_cast<uid_t>(inode.uid), static_cast<gid_t>(inode.gid)) != 0) {
      fail(dir->path, "set the owner", errno);
    }
    if (fchmod(fd, inode.mode & 07777) != 0) fail(dir->path, "set the mode", errno);
    const timespec times[2] = {{inode.mtime.seconds, inode.mtime.nanoseconds}, {inode.mtime.seconds, inode.mtime.nanoseconds}};
    if (futimens(fd, times) != 0) fail(dir->path, "set the mtime", errno);
  }
}

}  // namespace undocker::fs
