#include "fs/root.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include <cerrno>
#include <cstring>
#include <deque>
#include <vector>

#include <fmt/format.h>

#include "fs/dir_listing.hpp"
#include "util/error.hpp"
#include "util/limits.hpp"
#include "util/log.hpp"
#include "util/path.hpp"

namespace undocker::fs {

namespace {

Fd duplicate(int fd) { return Fd(fcntl(fd, F_DUPFD_CLOEXEC, 0)); }


}  // namespace

bool is_empty_directory(int dir_fd) {
  // A listing of its own: dir_fd may have been read to its end already.
  const DirListing listing = open_listing(dir_fd);
  if (!listing) return false;
  while (dirent* item = readdir(listing.get())) {
    const std::string_view name = item->d_name;
    if (name != "." && name != "..") return false;
  }
  return true;
}

RootDir::RootDir(const std::string& path) : path_(path) {
  // Like mkdir -p with mode 0755 (our umask is 0, so say it explicitly).
  for (std::size_t slash = path.find('/', 1);; slash = path.find('/', slash + 1)) {
    const std::string prefix = path.substr(0, slash);
    if (!prefix.empty() && mkdir(prefix.c_str(), 0755) != 0 && errno != EEXIST) {
      throw IoError(fmt::format("cannot create output directory {}: {}", escape(prefix), std::strerror(errno)));
    }
    if (slash == std::string::npos) break;
  }
  root_ = std::make_shared<Fd>(open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!root_->valid()) {
    throw IoError(fmt::format("cannot open output directory {}: {}", escape(path), std::strerror(errno)));
  }
  was_empty_ = is_empty_directory(root_->get());
}

RootDir::RootDir(Fd dir, std::string display) : root_(std::make_shared<Fd>(std::move(dir))), path_(std::move(display)) {
  was_empty_ = is_empty_directory(root_->get());
}

void RootDir::forget_cache() {
  for (CachedDir& cached : cache_) cached = CachedDir{};
}

DirFd RootDir::open_dir(std::string_view clean_dir, bool create, int& error) {
  error = 0;
  if (clean_dir.empty()) return root_;
  // Reuse a recent resolution. Removals clear the cache, so it never names
  // a stale inode.
  for (const CachedDir& cached : cache_) {
    if (cached.fd && cached.path == clean_dir) return cached.fd;
  }
  Fd fd;
  if (have_openat2_) {
    fd = open_with_openat2(clean_dir, error);
    // Walk to create missing directories, without openat2, or when renames
    // elsewhere kept making the kernel ask for a retry (EAGAIN).
    const bool walk_instead = !have_openat2_ || error == EAGAIN || (error == ENOENT && create);
    if (!fd.valid() && !walk_instead) return nullptr;
  }
  if (!fd.valid()) fd = walk(clean_dir, create, error);
  if (!fd.valid()) return nullptr;
  CachedDir& slot = cache_[next_evicted_];
  next_evicted_ = (next_evicted_ + 1) % kCachedDirs;
  slot.path.assign(clean_dir);
  slot.fd = std::make_shared<const Fd>(std::move(fd));
  return slot.fd;
}

Fd RootDir::open_with_openat2(std::string_view clean_dir, int& error) {
  open_how how{};
  how.flags = O_PATH | O_DIRECTORY | O_CLOEXEC;
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
  const std::string path(clean_dir);
  for (int attempt = 0; attempt < 3; ++attempt) {
    const long fd = syscall(SYS_openat2, root_->get(), path.c_str(), &how, sizeof how);
    if (fd >= 0) return Fd(static_cast<int>(fd));
    error = errno;
    // EAGAIN: a concurrent rename raced the lookup; try again.
    if (error == EAGAIN) continue;
    if (error == ENOSYS || error == EPERM) {
      // No openat2 (kernel < 5.6, or a seccomp filter): walk instead.
      have_openat2_ = false;
    }
    return Fd();
  }
  return Fd();  // error is EAGAIN: the caller walks instead
}

// The fallback, and the creator of missing directories: one component at a
// time with O_NOFOLLOW, expanding symlinks ourselves inside the root. The
// stack holds the real directories walked, so ".." is the previous one and
// stops at the root.
Fd RootDir::walk(std::string_view clean_dir, bool create, int& error) {
  std::deque<std::string> pending = split_components(clean_dir);
  std::vector<Fd> stack;
  auto top = [&]() { return stack.empty() ? root_->get() : stack.back().get(); };
  int hops = 0;
  while (!pending.empty()) {
    const std::string part = std::move(pending.front());
    pending.pop_front();
    if (part == ".") continue;
    if (part == "..") {
      if (!stack.empty()) stack.pop_back();
      continue;
    }
    if (stack.size() > limits::kMaxPathDepth) {
      error = ENAMETOOLONG;
      return Fd();
    }
    Fd next(openat(top(), part.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
    if (!next.valid() && errno == ENOENT && create) {
      if (mkdirat(top(), part.c_str(), 0755) != 0 && errno != EEXIST) {
        error = errno;
        return Fd();
      }
      next = Fd(openat(top(), part.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
    }
    if (!next.valid()) {
      error = errno;
      return Fd();
    }
    struct stat st {};
    if (fstat(next.get(), &st) != 0) {
      error = errno;
      return Fd();
    }
    if (S_ISDIR(st.st_mode)) {
      stack.push_back(std::move(next));
      continue;
    }
    if (!S_ISLNK(st.st_mode)) {
      error = ENOTDIR;
      return Fd();
    }
    if (++hops > limits::kMaxSymlinkHops) {
      error = ELOOP;
      return Fd();
    }
    std::vector<char> target(static_cast<std::size_t>(st.st_size > 0 ? st.st_size : 0) + 4097);
    const ssize_t length = readlinkat(next.get(), "", target.data(), target.size());
    if (length < 0) {
      error = errno;
      return Fd();
    }
    const std::string_view link(target.data(), static_cast<std::size_t>(length));
    std::deque<std::string> expanded = split_components(link);
    pending.insert(pending.begin(), expanded.begin(), expanded.end());
    if (link.starts_with('/')) stack.clear();  // absolute: from our root
  }
  if (stack.empty()) return duplicate(root_->get());
  return std::move(stack.back());
}

}  // namespace undocker::fs
