#include "fs/output_dir.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <vector>

#include <fmt/format.h>

#include "fs/dir_listing.hpp"
#include "fs/root.hpp"
#include "fs/writer.hpp"
#include "util/error.hpp"
#include "util/interrupt.hpp"
#include "util/log.hpp"
#include "util/process.hpp"

namespace undocker::fs {

namespace {

constexpr std::string_view kPartialMarker = ".undocker-partial-";
// Staging names are ".LEAF.undocker-partial-PID": a longer leaf would not
// fit NAME_MAX (255), so such a DIR is written in place.
constexpr std::size_t kMaxStagedLeafBytes = 200;

[[noreturn]] void fail(std::string_view what, std::string_view path, int error) {
  throw IoError(fmt::format("cannot {} {}: {}", what, escape(path), std::strerror(error)));
}

std::string join_display(std::string_view parent, std::string_view leaf) {
  if (parent.empty() || parent == ".") return std::string(leaf);
  if (parent.ends_with('/')) return fmt::format("{}{}", parent, leaf);
  return fmt::format("{}/{}", parent, leaf);
}

// mkdir -p of a path the user gave.
void make_user_directories(const std::string& path) {
  for (std::size_t slash = path.find('/', 1);; slash = path.find('/', slash + 1)) {
    const std::string prefix = path.substr(0, slash);
    if (!prefix.empty() && mkdir(prefix.c_str(), 0755) != 0 && errno != EEXIST) {
      fail("create output directory", prefix, errno);
    }
    if (slash == std::string::npos) break;
  }
}

// A bind mount keeps st_dev: ask statx, and compare devices where the
// kernel cannot tell (before 5.8).
bool is_mount_point(int parent_fd, int dir_fd) {
  struct statx info {};
  if (statx(dir_fd, "", AT_EMPTY_PATH, STATX_BASIC_STATS, &info) == 0 && (info.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT)) {
    return (info.stx_attributes & STATX_ATTR_MOUNT_ROOT) != 0;
  }
  struct stat parent_st {};
  struct stat dir_st {};
  return fstat(parent_fd, &parent_st) != 0 || fstat(dir_fd, &dir_st) != 0 || parent_st.st_dev != dir_st.st_dev;
}

}  // namespace

namespace {

// The parent and leaf of a path the user gave; the parent is made first
// when create_parents (else a missing parent gives nullopt).
std::optional<OutputPlace> user_place(const std::string& path, bool create_parents) {
  std::string trimmed = path;
  while (trimmed.size() > 1 && trimmed.back() == '/') trimmed.pop_back();
  OutputPlace place;
  place.display = path;
  const std::size_t slash = trimmed.rfind('/');
  // "/" is its own parent; "name" lives in "."; "a/b" in "a".
  std::string parent_path = slash == std::string::npos ? std::string(1, '.') : trimmed.substr(0, slash == 0 ? 1 : slash);
  place.leaf = trimmed == "/" ? std::string(1, '.') : trimmed.substr(slash == std::string::npos ? 0 : slash + 1);
  if (create_parents && parent_path != "/" && parent_path != ".") make_user_directories(parent_path);
  place.parent_display = parent_path;
  place.parent = Fd(open(parent_path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!place.parent.valid()) {
    if (!create_parents) return std::nullopt;
    fail("open directory", parent_path, errno);
  }
  return place;
}

// A name OutputDir can stage beside (".LEAF.undocker-partial-PID").
bool stageable_name(const std::string& leaf) {
  return leaf != "." && leaf != ".." && leaf.size() <= kMaxStagedLeafBytes;
}

}  // namespace

OutputPlace place_of_user_path(const std::string& path) { return std::move(*user_place(path, true)); }

std::optional<OutputPlace> place_if_parent_exists(const std::string& path) { return user_place(path, false); }

bool OutputDir::would_stage(const OutputPlace& place) {
  if (!stageable_name(place.leaf)) return false;
  struct stat st {};
  if (fstatat(place.parent.get(), place.leaf.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) return errno == ENOENT;
  if (!S_ISDIR(st.st_mode)) return false;
  Fd dir(openat(place.parent.get(), place.leaf.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  return dir.valid() && !is_mount_point(place.parent.get(), dir.get()) && is_empty_directory(dir.get());
}

Fd make_directories_nofollow(int base_fd, std::string_view relative, std::string_view base_display) {
  Fd current(fcntl(base_fd, F_DUPFD_CLOEXEC, 0));
  if (!current.valid()) fail("open directory", base_display, errno);
  std::string walked(base_display);
  std::size_t begin = 0;
  while (begin < relative.size()) {
    std::size_t end = relative.find('/', begin);
    if (end == std::string_view::npos) end = relative.size();
    const std::string part(relative.substr(begin, end - begin));
    begin = end + 1;
    walked = join_display(walked, part);
    if (mkdirat(current.get(), part.c_str(), 0755) != 0 && errno != EEXIST) fail("create directory", walked, errno);
    Fd next(openat(current.get(), part.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!next.valid()) {
      // ELOOP: a symlink stands there; ENOTDIR: a file does.
      const int error = errno;
      if (error == ELOOP || error == ENOTDIR) {
        throw IoError(fmt::format("cannot use {} as an output directory: it is not a directory (a symlink or a file "
                                  "stands there; undocker does not follow it)",
                                  escape(walked)));
      }
      fail("open directory", walked, error);
    }
    current = std::move(next);
  }
  return current;
}

OutputDir::OutputDir(OutputPlace place) : place_(std::move(place)) {
  const std::string& leaf = place_.leaf;
  const bool plain_name = stageable_name(leaf);
  struct stat st {};
  const bool exists = fstatat(place_.parent.get(), leaf.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0;
  if (!exists && errno != ENOENT) fail("look at output directory", place_.display, errno);
  if (plain_name) remove_stale_siblings();
  if (plain_name && exists && S_ISDIR(st.st_mode)) {
    Fd dir(openat(place_.parent.get(), leaf.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    // An empty DIR is replaced by the finished tree; a mount point cannot
    // be renamed over, so it is written in place.
    staged_ = dir.valid() && !is_mount_point(place_.parent.get(), dir.get()) && is_empty_directory(dir.get());
  } else {
    staged_ = plain_name && !exists;
  }
  if (!staged_) {
    if (!exists && mkdirat(place_.parent.get(), leaf.c_str(), 0755) != 0 && errno != EEXIST) {
      fail("create output directory", place_.display, errno);
    }
    if (exists && !place_.leaf_is_users && !S_ISDIR(st.st_mode)) {
      throw IoError(fmt::format("cannot use {} as an output directory: it is not a directory (a symlink or a file "
                                "stands there; undocker does not follow it)",
                                escape(place_.display)));
    }
    return;
  }
  staging_name_ = fmt::format(".{}{}{}", leaf, kPartialMarker, getpid());
  // A leftover of ours (same pid, after a crash in a pid namespace) goes first.
  remove_tree_at(place_.parent.get(), staging_name_);
  if (mkdirat(place_.parent.get(), staging_name_.c_str(), 0755) != 0) {
    fail("create staging directory", join_display(place_.parent_display, staging_name_), errno);
  }
  registered_.emplace(join_display(place_.parent_display, staging_name_));
}

OutputDir::~OutputDir() {
  if (staged_ && !committed_) remove_tree_at(place_.parent.get(), staging_name_);
}

Fd OutputDir::open_root() const {
  const std::string& name = staged_ ? staging_name_ : place_.leaf;
  // The user's DIR may be a symlink of theirs: follow it. The staging
  // directory is ours, just made; a name from the archive is never followed.
  const bool follow = place_.leaf_is_users && !staged_;
  Fd fd(openat(place_.parent.get(), name.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC | (follow ? 0 : O_NOFOLLOW)));
  if (!fd.valid()) fail("open output directory", place_.display, errno);
  return fd;
}

void OutputDir::commit() {
  if (!staged_ || committed_) return;
  // Over a missing DIR, or an empty one (rename replaces an empty directory).
  if (renameat(place_.parent.get(), staging_name_.c_str(), place_.parent.get(), place_.leaf.c_str()) != 0) {
    const int error = errno;
    if (error == ENOTEMPTY || error == EEXIST) {
      throw IoError(fmt::format("cannot move the finished tree to {}: something was written there during the run",
                                escape(place_.display)));
    }
    fail("move the finished tree to", place_.display, error);
  }
  committed_ = true;
}

void OutputDir::remove_stale_siblings() const {
  // ".LEAF.undocker-partial-PID": never a finished tree.
  const std::string prefix = fmt::format(".{}{}", place_.leaf, kPartialMarker);
  remove_stale_staging(
      place_.parent.get(),
      [&](std::string_view name) -> std::optional<pid_t> {
        if (!name.starts_with(prefix)) return std::nullopt;
        return parse_pid(name.substr(prefix.size()));
      },
      [&](std::string_view name) { return join_display(place_.parent_display, name); });
}

std::optional<pid_t> parse_pid(std::string_view digits) {
  pid_t pid = 0;
  const auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), pid);
  if (error != std::errc() || end != digits.data() + digits.size()) return std::nullopt;
  return pid;
}

void remove_stale_staging(int dir_fd, const std::function<std::optional<pid_t>(std::string_view name)>& staging_pid,
                          const std::function<std::string(std::string_view name)>& display) {
  std::vector<std::string> stale;
  {
    const DirListing listing = open_listing(dir_fd);
    if (!listing) return;
    while (dirent* item = readdir(listing.get())) {
      const std::optional<pid_t> pid = staging_pid(item->d_name);
      if (pid && !process_alive(*pid)) stale.emplace_back(item->d_name);
    }
  }
  for (const std::string& name : stale) {
    log(LogLevel::kInfo, "removing {}, left by an unfinished run", escape(display(name)));
    remove_tree_at(dir_fd, name);
  }
}

void write_file_atomically(int parent_fd, const std::string& name, std::string_view text, std::string_view display) {
  const std::string temporary = fmt::format(".{}.undocker-{}", name.size() > kMaxStagedLeafBytes ? "tmp" : name, getpid());
  unlinkat(parent_fd, temporary.c_str(), 0);
  Fd file(openat(parent_fd, temporary.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644));
  if (!file.valid()) fail("write", display, errno);
  std::size_t done = 0;
  while (done < text.size()) {
    const ssize_t count = write(file.get(), text.data() + done, text.size() - done);
    if (count < 0 && errno == EINTR) continue;
    if (count <= 0) {
      const int error = count < 0 ? errno : EIO;
      unlinkat(parent_fd, temporary.c_str(), 0);
      fail("write", display, error);
    }
    done += static_cast<std::size_t>(count);
  }
  if (renameat(parent_fd, temporary.c_str(), parent_fd, name.c_str()) != 0) {
    const int error = errno;
    unlinkat(parent_fd, temporary.c_str(), 0);
    fail("write", display, error);
  }
}

}  // namespace undocker::fs
