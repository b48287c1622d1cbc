#include "fs/writer.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>
#include <algorithm>
#include <cstring>
#include <optional>
#include <stdexcept>
#include <vector>

#include <fmt/format.h>

#include "fs/dir_listing.hpp"
#include "fs/errors.hpp"
#include "util/path.hpp"
#include "util/error.hpp"
#include "util/log.hpp"

namespace undocker::fs {

namespace {

void write_all(int fd, Bytes bytes, std::string_view clean_path) {
  const std::uint8_t* data = bytes.data();
  std::size_t size = bytes.size();
  while (size > 0) {
    const ssize_t written = ::write(fd, data, size);
    if (written < 0) {
      if (errno == EINTR) continue;
      fail(clean_path, "write data", errno);
    }
    data += written;
    size -= static_cast<std::size_t>(written);
  }
}

constexpr std::size_t kChunkBytes = std::size_t{1} << 20;

// Writes each segment at its offset and sizes the file: the gaps stay holes.
void write_sparse_data(int fd, const tar::SparseMap& map, tar::TarReader& data, std::string_view clean_path) {
  for (const tar::SparseSegment& segment : map.segments) {
    std::uint64_t offset = segment.offset;
    std::uint64_t remaining = segment.length;
    while (remaining > 0) {
      const Bytes piece = data.read_data(static_cast<std::size_t>(std::min<std::uint64_t>(remaining, kChunkBytes)));
      std::size_t done = 0;
      while (done < piece.size()) {
        const ssize_t written = pwrite(fd, piece.data() + done, piece.size() - done, static_cast<off_t>(offset + done));
        if (written < 0) {
          if (errno == EINTR) continue;
          fail(clean_path, "write data", errno);
        }
        done += static_cast<std::size_t>(written);
      }
      offset += piece.size();
      remaining -= piece.size();
    }
  }
  if (ftruncate(fd, static_cast<off_t>(map.real_size)) != 0) fail(clean_path, "set the file size", errno);
}

timespec to_timespec(const tar::Timestamp& time) {
  return timespec{static_cast<time_t>(time.seconds), static_cast<long>(time.nanoseconds)};
}

}  // namespace

bool remove_children(int dir_fd) {
  // Not a duplicate of dir_fd, which would share its read position.
  const std::optional<std::vector<std::string>> names = list_names(dir_fd);
  if (!names) return false;
  for (const std::string& entry_name : *names) {
    if (!remove_tree_at(dir_fd, entry_name) && errno != ENOENT) return false;
  }
  return true;
}

bool remove_tree_at(int dir_fd, const std::string& name) {
  if (unlinkat(dir_fd, name.c_str(), 0) == 0) return true;
  if (errno != EISDIR && errno != EPERM) return false;
  Fd child(openat(dir_fd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!child.valid()) return false;
  if (!remove_children(child.get())) return false;
  return unlinkat(dir_fd, name.c_str(), AT_REMOVEDIR) == 0;
}

void remove_path(const std::string& path) {
  const std::size_t slash = path.rfind('/');
  const std::string dir = slash == std::string::npos ? "." : path.substr(0, slash == 0 ? 1 : slash);
  const Fd dir_fd(open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dir_fd.valid()) remove_tree_at(dir_fd.get(), path.substr(slash == std::string::npos ? 0 : slash + 1));
}

namespace {

// Who owns every entry this run creates, from the start, when that is
// known: a new file, directory, symlink or node belongs to the creating
// user, and to its group unless the directory it is made in is setgid
// (then to that directory's group). Known when the output directory
// started empty and is owned by us, not setgid: every directory below it
// is then made by this run, without setgid (their modes are set by the
// fixups at the very end). A chown to that owner changes nothing and is
// skipped: most entries of most images are root's, as the run is.
// Anything else (a root-squashing file system, where the directory we made
// is not ours; a setgid parent; a merge into a tree) keeps every chown.
std::optional<Owner> owner_on_create(const RootDir& root) {
  if (!root.was_empty()) return std::nullopt;
  struct stat st {};
  if (fstat(root.fd(), &st) != 0 || (st.st_mode & S_ISGID) != 0) return std::nullopt;
  if (st.st_uid != geteuid() || st.st_gid != getegid()) return std::nullopt;
  return Owner{st.st_uid, st.st_gid};
}

}  // namespace

TreeWriter::TreeWriter(RootDir& root, WriterOptions options) : root_(root), options_(options) {
  // Entries are created with their final permission bits: the umask must
  // not mask them (main() clears it too; a library user may not have).
  umask(0);
  clock_gettime(CLOCK_REALTIME, &started_);
  finish_.set_owner = options_.set_owner;
  finish_.privileged = options_.privileged;
  finish_.ignore_errors = options_.ignore_errors;
  if (options_.set_owner) finish_.owner_on_create = owner_on_create(root_);
  if (options_.threads > 0) pool_ = std::make_unique<FilePool>(options_.threads, finish_);
}

DirFd TreeWriter::open_parent(std::string_view clean_path, std::string_view what, bool create) {
  int error = 0;
  const std::string_view parent = split_parent(clean_path).first;
  DirFd fd = root_.open_dir(parent, create, error);
  if (!fd && create) fail(clean_path, fmt::format("open the directory for {}", what), error);
  if (fd) note_existing_dir(parent, fd->get());
  return fd;
}

namespace {

std::optional<std::string> fd_path(int fd) {
  std::string buffer(4096, '\0');
  const ssize_t size = readlink(fmt::format("/proc/self/fd/{}", fd).c_str(), buffer.data(), buffer.size());
  if (size <= 0 || static_cast<std::size_t>(size) >= buffer.size()) return std::nullopt;
  buffer.resize(static_cast<std::size_t>(size));
  return buffer;
}

}  // namespace

void TreeWriter::note_existing_dir(std::string_view clean_dir, int dir_fd) {
  // A fresh output directory holds nothing from before this run.
  if (root_.was_empty()) return;
  if (!seen_dirs_.insert(std::string(clean_dir)).second) return;
  struct stat st {};
  if (fstat(dir_fd, &st) != 0) return;
  const bool older = st.st_mtim.tv_sec < started_.tv_sec ||
                     (st.st_mtim.tv_sec == started_.tv_sec && st.st_mtim.tv_nsec < started_.tv_nsec);
  if (!older) return;
  // Recorded under its real path: "lib" may be a symlink to usr/lib, and
  // the fixups never follow a symlink.
  if (!root_path_) root_path_ = fd_path(root_.fd()).value_or("");
  const std::optional<std::string> real = fd_path(dir_fd);
  if (!real || root_path_->empty()) return;
  std::string physical;
  if (*real == *root_path_) {
    physical = "";
  } else if (real->starts_with(*root_path_ + "/") || *root_path_ == "/") {
    physical = real->substr(*root_path_ == "/" ? 1 : root_path_->size() + 1);
  } else {
    return;
  }
  fixups_.keep_mtime(physical, tar::Timestamp{st.st_mtim.tv_sec, static_cast<std::uint32_t>(st.st_mtim.tv_nsec)});
}

bool TreeWriter::clear_for(int parent_fd, const std::string& leaf, std::string_view clean_path, bool keep_directory) {
  struct stat st {};
  if (fstatat(parent_fd, leaf.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    if (errno == ENOENT) return false;
    fail(clean_path, "inspect the existing entry", errno);
  }
  if (S_ISDIR(st.st_mode) && keep_directory) return true;
  if (!remove_tree_at(parent_fd, leaf)) fail(clean_path, "replace the existing entry", errno);
  // A cached resolution may have passed through what was just removed
  // (a directory, or a symlink to one).
  root_.forget_cache();
  if (S_ISDIR(st.st_mode)) fixups_.forget(clean_path);
  return false;
}

void TreeWriter::write(const tar::Entry& entry, std::string_view clean_path) {
  // A worker's failure ends the run at the next entry, not at the next
  // file handed to the pool.
  if (pool_) pool_->check();
  if (clean_path.empty()) {
    // "./": the root itself (apply_layer lets only a directory through).
    fixups_.record("", DirMetadata{entry.mode, entry.uid, entry.gid, entry.mtime});
    return;
  }
  const DirFd parent = open_parent(clean_path, "the entry", true);
  const std::string leaf(split_parent(clean_path).second);
  switch (entry.type) {
    case tar::EntryType::kFile:
      // Our own invariant: only apply_layer writes here, and it lends its reader first.
      if (!data_) throw std::logic_error("TreeWriter::write: a file with no layer reader lent");
      write_file(entry, parent->get(), leaf, clean_path, *data_);
      break;
    case tar::EntryType::kDirectory: write_directory(entry, parent->get(), leaf, clean_path); break;
    case tar::EntryType::kSymlink: write_symlink(entry, parent->get(), leaf, clean_path); break;
    case tar::EntryType::kHardlink: write_hardlink(entry, parent->get(), leaf, clean_path); break;
    case tar::EntryType::kCharDevice:
    case tar::EntryType::kBlockDevice:
    case tar::EntryType::kFifo: write_node(entry, parent->get(), leaf, clean_path); break;
  }
}

void TreeWriter::write_file(const tar::Entry& entry, int parent_fd, const std::string& leaf,
                            std::string_view clean_path, tar::TarReader& data) {
  constexpr int kFlags = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC;
  // Created with its permission bits (umask is 0): one fchmod fewer.
  const mode_t initial_mode = entry.mode & 0777;
  Fd file(openat(parent_fd, leaf.c_str(), kFlags, initial_mode));
  if (!file.valid() && errno == EEXIST) {
    clear_for(parent_fd, leaf, clean_path, false);
    file = Fd(openat(parent_fd, leaf.c_str(), kFlags, initial_mode));
  }
  if (!file.valid()) fail(clean_path, "create the file", errno);
  PendingFile pending{std::move(file), {}, {}, {}, entry.sparse, entry.mode, entry.uid, entry.gid, entry.mtime,
                      entry.xattrs, std::string(clean_path), layer_name_};
  if (data.stable_views()) {
    // The whole data is one view of the mapping, valid until we exit.
    pending.data = data.read_data(static_cast<std::size_t>(entry.size_bytes));
    if (pending.data.size() != entry.size_bytes) data.read_data(kChunkBytes);  // throws: truncated
    if (pool_) {
      pool_->submit(std::move(pending));
      return;
    }
  } else if (pool_ && !entry.sparse && entry.size_bytes <= data.pin_limit_bytes() && hand_over_pinned(pending, data)) {
    pool_->submit(std::move(pending));
    return;
  } else if (entry.sparse) {
    write_sparse_data(pending.fd.get(), *entry.sparse, data, clean_path);
    pending.sparse.reset();  // written and sized
  } else {
    for (Bytes piece = data.read_data(kChunkBytes); !piece.empty(); piece = data.read_data(kChunkBytes)) {
      write_all(pending.fd.get(), piece, clean_path);
    }
  }
  finish_file(pending, finish_);
}

bool TreeWriter::hand_over_pinned(PendingFile& pending, tar::TarReader& data) {
  if (data.data_remaining() == 0) return true;
  // At most two reads: the rest of the current chunk, then the next one.
  pending.data = data.read_data(static_cast<std::size_t>(data.data_remaining()));
  pending.data_pins[0] = data.pin_last_data();
  if (data.data_remaining() > 0) {
    pending.data_rest = data.read_data(static_cast<std::size_t>(data.data_remaining()));
    pending.data_pins[1] = data.pin_last_data();
  }
  const bool pinned = pending.data_pins[0] != nullptr && (pending.data_rest.empty() || pending.data_pins[1] != nullptr);
  if (!pinned || data.data_remaining() > 0) {
    // Not what the source promised: write what was read here and now.
    write_all(pending.fd.get(), pending.data, pending.clean_path);
    write_all(pending.fd.get(), pending.data_rest, pending.clean_path);
    for (Bytes piece = data.read_data(kChunkBytes); !piece.empty(); piece = data.read_data(kChunkBytes)) {
      write_all(pending.fd.get(), piece, pending.clean_path);
    }
    pending.data = pending.data_rest = {};
    pending.data_pins[0].reset();
    pending.data_pins[1].reset();
    return false;
  }
  return true;
}

void TreeWriter::write_directory(const tar::Entry& entry, int parent_fd, const std::string& leaf,
                                 std::string_view clean_path) {
  // Owner-writable until the fixups set the real mode at the end. Made
  // first, looked at only if something is there already: a directory
  // merges, anything else is replaced.
  if (mkdirat(parent_fd, leaf.c_str(), 0700) != 0) {
    if (errno != EEXIST) fail(clean_path, "create the directory", errno);
    const bool kept = clear_for(parent_fd, leaf, clean_path, true);
    if (!kept && mkdirat(parent_fd, leaf.c_str(), 0700) != 0) fail(clean_path, "create the directory", errno);
  }
  if (!entry.xattrs.empty()) {
    Fd dir(openat(parent_fd, leaf.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!dir.valid()) fail(clean_path, "open the directory", errno);
    set_xattrs(dir.get(), entry.xattrs, clean_path, finish_);
  }
  fixups_.record(clean_path, DirMetadata{entry.mode, entry.uid, entry.gid, entry.mtime});
}

void TreeWriter::write_symlink(const tar::Entry& entry, int parent_fd, const std::string& leaf,
                               std::string_view clean_path) {
  if (symlinkat(entry.link_target.c_str(), parent_fd, leaf.c_str()) != 0) {
    if (errno != EEXIST) fail(clean_path, "create the symlink", errno);
    clear_for(parent_fd, leaf, clean_path, false);
    if (symlinkat(entry.link_target.c_str(), parent_fd, leaf.c_str()) != 0) fail(clean_path, "create the symlink", errno);
  }
  if (!entry.xattrs.empty()) {
    set_symlink_xattrs(parent_fd, leaf, entry.xattrs, clean_path, finish_);
  }
  set_owner_mode_time_at(entry, parent_fd, leaf, clean_path, true);
}

void TreeWriter::write_hardlink(const tar::Entry& entry, int parent_fd, const std::string& leaf,
                                std::string_view clean_path) {
  const std::optional<std::string> target = clean_entry_path(entry.link_target);
  if (!target || target->empty()) fail(clean_path, "link outside the output directory", EXDEV);
  if (*target == clean_path) return;  // a link to itself changes nothing
  // The target resolves inside the root like any path; its last component
  // is not followed (linkat without AT_SYMLINK_FOLLOW links a symlink itself).
  const DirFd target_parent = open_parent(*target, "the hardlink target", false);
  if (!target_parent) fail(clean_path, fmt::format("link to {}", escape(*target)), ENOENT);
  const std::string target_leaf(split_parent(*target).second);
  if (linkat(target_parent->get(), target_leaf.c_str(), parent_fd, leaf.c_str(), 0) == 0) return;
  if (errno != EEXIST) fail(clean_path, fmt::format("link to {}", escape(*target)), errno);
  struct stat existing {};
  struct stat wanted {};
  if (fstatat(parent_fd, leaf.c_str(), &existing, AT_SYMLINK_NOFOLLOW) == 0 &&
      fstatat(target_parent->get(), target_leaf.c_str(), &wanted, AT_SYMLINK_NOFOLLOW) == 0 &&
      existing.st_dev == wanted.st_dev && existing.st_ino == wanted.st_ino) {
    return;  // already that very file
  }
  clear_for(parent_fd, leaf, clean_path, false);
  if (linkat(target_parent->get(), target_leaf.c_str(), parent_fd, leaf.c_str(), 0) != 0) {
    fail(clean_path, fmt::format("link to {}", escape(*target)), errno);
  }
}

void TreeWriter::write_node(const tar::Entry& entry, int parent_fd, const std::string& leaf,
                            std::string_view clean_path) {
  mode_t type = S_IFIFO;
  dev_t device = 0;
  const char* what = "create the FIFO";
  if (entry.type == tar::EntryType::kCharDevice || entry.type == tar::EntryType::kBlockDevice) {
    type = entry.type == tar::EntryType::kCharDevice ? S_IFCHR : S_IFBLK;
    device = makedev(entry.dev_major, entry.dev_minor);
    what = "create the device node";
  }
  if (mknodat(parent_fd, leaf.c_str(), type | (entry.mode & 0777), device) != 0) {
    if (errno != EEXIST) fail(clean_path, what, errno);
    clear_for(parent_fd, leaf, clean_path, false);
    if (mknodat(parent_fd, leaf.c_str(), type | (entry.mode & 0777), device) != 0) fail(clean_path, what, errno);
  }
  set_owner_mode_time_at(entry, parent_fd, leaf, clean_path, false);
}

void TreeWriter::set_owner_mode_time_at(const tar::Entry& entry, int parent_fd, const std::string& leaf,
                                        std::string_view clean_path, bool is_symlink) {
  if (needs_chown(finish_, entry.uid, entry.gid) &&
      fchownat(parent_fd, leaf.c_str(), static_cast<uid_t>(entry.uid), static_cast<gid_t>(entry.gid),
               AT_SYMLINK_NOFOLLOW) != 0) {
    fail(clean_path, "set the owner", errno);
  }
  // Symlinks have no mode of their own on Linux; nodes get theirs after chown.
  if (!is_symlink && fchmodat(parent_fd, leaf.c_str(), entry.mode, 0) != 0) fail(clean_path, "set the mode", errno);
  const timespec times[2] = {to_timespec(entry.mtime), to_timespec(entry.mtime)};
  if (utimensat(parent_fd, leaf.c_str(), times, AT_SYMLINK_NOFOLLOW) != 0) fail(clean_path, "set the mtime", errno);
}

bool TreeWriter::remove(std::string_view clean_path) {
  if (clean_path.empty()) return false;
  const DirFd parent = open_parent(clean_path, "the whiteout", false);
  if (!parent) return false;  // nothing there to delete
  const std::string leaf(split_parent(clean_path).second);
  struct stat st {};
  if (fstatat(parent->get(), leaf.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) return false;
  if (!remove_tree_at(parent->get(), leaf)) fail(clean_path, "delete it for a whiteout", errno);
  fixups_.forget(clean_path);
  root_.forget_cache();
  return true;
}

void TreeWriter::prune(std::string_view clean_dir, const std::function<bool(const std::string&)>& keep) {
  int error = 0;
  const DirFd parent = clean_dir.empty() ? root_.open_dir("", false, error)
                                         : open_parent(clean_dir, "the opaque directory", false);
  if (!parent) return;
  Fd dir;
  if (clean_dir.empty()) {
    dir = Fd(openat(parent->get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  } else {
    const std::string leaf(split_parent(clean_dir).second);
    dir = Fd(openat(parent->get(), leaf.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  }
  if (!dir.valid()) return;  // not a directory (or absent): nothing lower to hide
  prune_at(dir.get(), std::string(clean_dir), keep);
  root_.forget_cache();
}

void TreeWriter::prune_at(int dir_fd, const std::string& clean_dir,
                          const std::function<bool(const std::string&)>& keep) {
  note_existing_dir(clean_dir, dir_fd);
  // Not a duplicate of dir_fd, which would share its read position.
  const std::optional<std::vector<std::string>> names = list_names(dir_fd);
  if (!names) fail(clean_dir, "list the opaque directory", errno);
  for (const std::string& name : *names) {
    const std::string child = clean_dir.empty() ? name : clean_dir + "/" + name;
    if (!keep(child)) {
      if (!remove_tree_at(dir_fd, name) && errno != ENOENT) fail(child, "delete it below an opaque directory", errno);
      fixups_.forget(child);
      continue;
    }
    Fd sub(openat(dir_fd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (sub.valid()) prune_at(sub.get(), child, keep);
  }
}

std::size_t TreeWriter::finish() {
  if (pool_) pool_->drain();
  return fixups_.apply(root_, options_.set_owner);
}

}  // namespace undocker::fs
