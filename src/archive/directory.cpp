#include "archive/directory.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "util/error.hpp"
#include "util/limits.hpp"
#include "util/log.hpp"
#include "util/path.hpp"

namespace undocker::archive {

namespace {

// A descriptor closed when it goes out of scope.
class OwnedFd {
 public:
  explicit OwnedFd(int fd = -1) : fd_(fd) {}
  ~OwnedFd() {
    if (fd_ >= 0) close(fd_);
  }
  OwnedFd(OwnedFd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  OwnedFd& operator=(OwnedFd&& other) noexcept {
    if (this != &other) {
      if (fd_ >= 0) close(fd_);
      fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

std::string_view type_name(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISLNK(mode)) return "a symlink";
  return "not a regular file";
}

std::string join(const std::vector<std::string>& names, std::string_view last) {
  std::string path;
  for (const std::string& name : names) path += name + "/";
  path += last;
  return path;
}

// The link's target, read through an O_PATH descriptor of the link itself.
std::optional<std::string> read_link(int link_fd) {
  std::string target(limits::kMaxPathBytes, '\0');
  const ssize_t length = readlinkat(link_fd, "", target.data(), target.size());
  if (length < 0 || static_cast<std::size_t>(length) >= target.size()) return std::nullopt;
  target.resize(static_cast<std::size_t>(length));
  return target;
}

// Pushes the components of `path` so that the first is taken next.
void push_components(std::vector<std::string>& pending, std::string_view path) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  while (start <= path.size()) {
    const std::size_t slash = std::min(path.find('/', start), path.size());
    if (slash > start) parts.emplace_back(path.substr(start, slash - start));
    start = slash + 1;
  }
  pending.insert(pending.end(), parts.rbegin(), parts.rend());
}

}  // namespace

struct DirectoryMembers::Opened {
  std::string path;  // resolved, relative to the directory
  OwnedFd fd;        // O_PATH, or O_RDONLY when opened for reading
  struct stat st {};
};

DirectoryMembers::DirectoryMembers(int dir_fd, std::string name) : dir_fd_(dir_fd), name_(std::move(name)) {
  try {
    walk(dir_fd_, "", 0);
  } catch (...) {
    close(dir_fd_);
    throw;
  }
  // readdir's order is the filesystem's; sorted, the index is the same on every machine.
  std::sort(members_.begin(), members_.end(), [](const Member& a, const Member& b) { return a.name < b.name; });
  for (std::size_t i = 0; i < members_.size(); ++i) by_name_[members_[i].name] = i;
}

DirectoryMembers::~DirectoryMembers() {
  for (const auto& [name, mapping] : mappings_) {
    if (mapping.address) munmap(mapping.address, mapping.size_bytes);
  }
  close(dir_fd_);
}

void DirectoryMembers::fail(std::string_view name, std::string_view problem) const {
  throw FormatError(fmt::format("{}: {}: {}", escape(name_), escape(name), problem));
}

void DirectoryMembers::walk(int dir_fd, const std::string& prefix, std::size_t depth) {
  if (depth > limits::kMaxInputDirectoryDepth) {
    fail(prefix.substr(0, prefix.size() - 1),
         fmt::format("directories nest deeper than {} levels", limits::kMaxInputDirectoryDepth));
  }
  // fdopendir takes over the descriptor it is given: a fresh one, never
  // followed through a symlink (the walk records symlinks, it does not enter them).
  const int fd = prefix.empty() ? openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
                                : fcntl(dir_fd, F_DUPFD_CLOEXEC, 0);
  if (fd < 0) throw IoError(fmt::format("cannot read {}/{}: {}", escape(name_), escape(prefix), std::strerror(errno)));
  DIR* stream = fdopendir(fd);
  if (!stream) {
    const int saved = errno;
    close(fd);
    throw IoError(fmt::format("cannot read {}/{}: {}", escape(name_), escape(prefix), std::strerror(saved)));
  }
  struct Closer {
    DIR* stream;
    ~Closer() { closedir(stream); }
  } closer{stream};
  for (;;) {
    errno = 0;
    const dirent* entry = readdir(stream);
    if (!entry) {
      if (errno != 0) {
        throw IoError(fmt::format("cannot read {}/{}: {}", escape(name_), escape(prefix), std::strerror(errno)));
      }
      break;
    }
    const std::string_view base = entry->d_name;
    if (base == "." || base == "..") continue;
    if (members_.size() >= limits::kMaxInputDirectoryEntries) {
      throw FormatError(fmt::format("{}: holds more than {} files and directories", escape(name_),
                                    limits::kMaxInputDirectoryEntries));
    }
    const std::string path = prefix + std::string(base);
    struct stat st {};
    if (fstatat(dirfd(stream), entry->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
      throw IoError(fmt::format("cannot stat {}/{}: {}", escape(name_), escape(path), std::strerror(errno)));
    }
    Member member;
    member.name = path;
    if (S_ISDIR(st.st_mode)) {
      OwnedFd child(openat(dirfd(stream), entry->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (child.get() < 0) {
        throw IoError(fmt::format("cannot open {}/{}: {}", escape(name_), escape(path), std::strerror(errno)));
      }
      // A directory is a member, as in a tar; find_file refuses it by name.
      member.type = tar::EntryType::kDirectory;
      members_.push_back(std::move(member));
      walk(child.get(), path + "/", depth + 1);
      continue;
    }
    if (S_ISREG(st.st_mode)) {
      member.type = tar::EntryType::kFile;
      member.size_bytes = static_cast<std::uint64_t>(st.st_size);
    } else if (S_ISLNK(st.st_mode)) {
      member.type = tar::EntryType::kSymlink;
      OwnedFd link(openat(dirfd(stream), entry->d_name, O_PATH | O_NOFOLLOW | O_CLOEXEC));
      std::optional<std::string> target = link.get() < 0 ? std::nullopt : read_link(link.get());
      if (target) member.link_target = std::move(*target);
    } else if (S_ISFIFO(st.st_mode)) {
      member.type = tar::EntryType::kFifo;
    } else if (S_ISCHR(st.st_mode)) {
      member.type = tar::EntryType::kCharDevice;
    } else if (S_ISBLK(st.st_mode)) {
      member.type = tar::EntryType::kBlockDevice;
    } else {
      continue;  // a socket: no member type says it; find_file reports it by name
    }
    members_.push_back(std::move(member));
  }
}

bool DirectoryMembers::contains(std::string_view name) const { return by_name_.count(std::string(name)) != 0; }

// One component at a time from the directory's handle, each opened with
// O_PATH | O_NOFOLLOW: a symlink is never followed by the kernel, only
// here, where its target is spliced into the rest of the path and `..`
// returns to the directory actually walked through. Leaving the directory
// (an absolute target, `..` above it) is an error naming the link, not a
// clamp: a layout's links are relative, and one pointing elsewhere is
// either a mistake or an attack.
std::optional<DirectoryMembers::Opened> DirectoryMembers::resolve(std::string_view requested, bool for_reading) const {
  const std::optional<std::string> clean = clean_entry_path(requested);
  if (!clean || clean->empty()) return std::nullopt;
  std::vector<std::string> pending;
  push_components(pending, *clean);
  std::vector<OwnedFd> walked;     // the directories entered, below ours
  std::vector<std::string> names;  // and their names
  int hops = 0;
  std::pair<std::string, std::string> last_link;  // the symlink last taken, and its target
  while (!pending.empty()) {
    const std::string component = std::move(pending.back());
    pending.pop_back();
    if (component == ".") continue;
    if (component == "..") {
      // Only a symlink's target brings one here: clean_entry_path folds the rest.
      if (walked.empty()) {
        fail(requested, fmt::format("symlink {} -> {} leads out of the directory", escape(last_link.first),
                                    escape(last_link.second)));
      }
      walked.pop_back();
      names.pop_back();
      continue;
    }
    const int parent = walked.empty() ? dir_fd_ : walked.back().get();
    OwnedFd fd(openat(parent, component.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
    if (fd.get() < 0) {
      if (errno == ENOENT || errno == ENOTDIR) return std::nullopt;
      throw IoError(fmt::format("cannot open {}/{}: {}", escape(name_), escape(join(names, component)),
                                std::strerror(errno)));
    }
    Opened opened{join(names, component), std::move(fd), {}};
    if (fstat(opened.fd.get(), &opened.st) != 0) {
      throw IoError(fmt::format("cannot stat {}/{}: {}", escape(name_), escape(opened.path), std::strerror(errno)));
    }
    if (S_ISLNK(opened.st.st_mode)) {
      if (++hops > limits::kMaxSymlinkHops) {
        fail(requested, fmt::format("more than {} symlinks on the way", limits::kMaxSymlinkHops));
      }
      const std::optional<std::string> target = read_link(opened.fd.get());
      if (!target) fail(requested, fmt::format("cannot read the symlink {}", escape(opened.path)));
      if (target->starts_with('/')) {
        fail(requested, fmt::format("symlink {} -> {} leads out of the directory", escape(opened.path), escape(*target)));
      }
      last_link = {opened.path, *target};
      std::vector<std::string> parts;
      push_components(parts, *target);
      pending.insert(pending.end(), parts.begin(), parts.end());
      continue;
    }
    if (pending.empty()) {
      if (!S_ISREG(opened.st.st_mode)) return opened;
      if (for_reading) {
        // Reopened by name from the same parent, never following a link;
        // the same inode, or the file was swapped meanwhile.
        OwnedFd readable(openat(parent, component.c_str(), O_RDONLY | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC));
        struct stat st {};
        if (readable.get() < 0 || fstat(readable.get(), &st) != 0) {
          throw IoError(fmt::format("cannot open {}/{}: {}", escape(name_), escape(opened.path), std::strerror(errno)));
        }
        if (st.st_dev != opened.st.st_dev || st.st_ino != opened.st.st_ino) {
          throw IoError(fmt::format("{}: {}: changed while undocker read it", escape(name_), escape(opened.path)));
        }
        opened.fd = std::move(readable);
      }
      return opened;
    }
    // A file where a directory is needed: absent, as in the tar form.
    if (!S_ISDIR(opened.st.st_mode)) return std::nullopt;
    walked.push_back(std::move(opened.fd));
    names.push_back(std::move(component));
  }
  // The path ended on `..` or `.` of a symlink's target: a directory.
  Opened directory{names.empty() ? std::string(".") : join({names.begin(), names.end() - 1}, names.back()), OwnedFd(fcntl(walked.empty() ? dir_fd_ : walked.back().get(), F_DUPFD_CLOEXEC, 0)), {}};
  if (directory.fd.get() < 0 || fstat(directory.fd.get(), &directory.st) != 0) {
    throw IoError(fmt::format("cannot stat {}/{}: {}", escape(name_), escape(directory.path), std::strerror(errno)));
  }
  return directory;
}

std::optional<Member> DirectoryMembers::find_file(std::string_view name) const {
  std::optional<Opened> opened = resolve(name, false);
  if (!opened) return std::nullopt;
  if (!S_ISREG(opened->st.st_mode)) fail(name, fmt::format("{}, not a regular file", type_name(opened->st.st_mode)));
  {
    const std::lock_guard<std::mutex> lock(mutex_);
    identities_[opened->path] = {opened->st.st_dev, opened->st.st_ino};
  }
  Member member;
  member.name = opened->path;
  member.type = tar::EntryType::kFile;
  member.size_bytes = static_cast<std::uint64_t>(opened->st.st_size);
  return member;
}

Bytes DirectoryMembers::data(const Member& member) const {
  const std::lock_guard<std::mutex> lock(mutex_);
  if (const auto found = mappings_.find(member.name); found != mappings_.end()) {
    return Bytes(static_cast<const std::uint8_t*>(found->second.address), found->second.size_bytes);
  }
  std::optional<Opened> opened = resolve(member.name, true);
  if (!opened) throw IoError(fmt::format("{}: {}: vanished while undocker read it", escape(name_), escape(member.name)));
  if (!S_ISREG(opened->st.st_mode)) {
    fail(member.name, fmt::format("{}, not a regular file", type_name(opened->st.st_mode)));
  }
  const auto seen = identities_.find(opened->path);
  struct stat st {};
  if (fstat(opened->fd.get(), &st) != 0) {
    throw IoError(fmt::format("cannot stat {}/{}: {}", escape(name_), escape(opened->path), std::strerror(errno)));
  }
  if ((seen != identities_.end() && seen->second != std::pair<dev_t, ino_t>{st.st_dev, st.st_ino}) ||
      static_cast<std::uint64_t>(st.st_size) != member.size_bytes) {
    throw IoError(fmt::format("{}: {}: changed while undocker read it", escape(name_), escape(opened->path)));
  }
  Mapping mapping;
  // mmap refuses length 0: an empty file is an empty view.
  if (st.st_size > 0) {
    mapping.size_bytes = static_cast<std::size_t>(st.st_size);
    mapping.address = mmap(nullptr, mapping.size_bytes, PROT_READ, MAP_SHARED, opened->fd.get(), 0);
    if (mapping.address == MAP_FAILED) {
      throw IoError(fmt::format("cannot map {}/{}: {}", escape(name_), escape(opened->path), std::strerror(errno)));
    }
    // Blobs are hashed and decoded front to back.
    madvise(mapping.address, mapping.size_bytes, MADV_SEQUENTIAL);
  }
  mappings_[member.name] = mapping;
  return Bytes(static_cast<const std::uint8_t*>(mapping.address), mapping.size_bytes);
}

}  // namespace undocker::archive
