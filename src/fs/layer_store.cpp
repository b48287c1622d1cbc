#include "fs/layer_store.hpp"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <vector>

#include <fmt/format.h>

#include "fs/output_dir.hpp"
#include "fs/root.hpp"
#include "fs/writer.hpp"
#include "util/error.hpp"
#include "util/log.hpp"

namespace undocker::fs {

namespace {

constexpr std::string_view kStagingPrefix = ".tmp-";

[[noreturn]] void fail(std::string_view what, std::string_view path, int error) {
  throw IoError(fmt::format("cannot {} {}: {}", what, escape(path), std::strerror(error)));
}

[[noreturn]] void refuse_non_directory(std::string_view display) {
  throw IoError(fmt::format("cannot use {} in the layer store: it is not a directory (a symlink or a file stands "
                            "there; undocker does not follow it)",
                            escape(display)));
}

}  // namespace

LayerStore::LayerStore(const std::string& path) : display_(path) {
  // STORE itself is the user's: made with its parents and opened by path.
  OutputPlace place = place_of_user_path(path);
  if (mkdirat(place.parent.get(), place.leaf.c_str(), 0755) != 0 && errno != EEXIST) {
    fail("create layer store", path, errno);
  }
  store_ = Fd(openat(place.parent.get(), place.leaf.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!store_.valid()) fail("open layer store", path, errno);
  const std::unique_ptr<char, decltype(&free)> real(realpath(fmt::format("/proc/self/fd/{}", store_.get()).c_str(), nullptr),
                                                    &free);
  if (!real) fail("find the real path of layer store", path, errno);
  absolute_ = real.get();
  sha256_ = make_directories_nofollow(store_.get(), "sha256", path);
  remove_stale_staging();
}

bool LayerStore::has(std::string_view hex) const {
  const std::string name(hex);
  struct stat st {};
  if (fstatat(sha256_.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    if (errno == ENOENT) return false;
    fail("look at", display_of(hex), errno);
  }
  if (!S_ISDIR(st.st_mode)) refuse_non_directory(display_of(hex));
  return true;
}

std::string LayerStore::path_of(std::string_view hex) const {
  return fmt::format("{}{}sha256/{}", absolute_, absolute_.ends_with('/') ? "" : "/", hex);
}

std::string LayerStore::empty_dir() const {
  const Fd empty = make_directories_nofollow(store_.get(), "empty", display_);
  if (!is_empty_directory(empty.get())) {
    throw IoError(fmt::format("cannot use {}/empty as an empty lower directory: something was put in it",
                              escape(display_)));
  }
  return fmt::format("{}{}empty", absolute_, absolute_.ends_with('/') ? "" : "/");
}

std::string LayerStore::display_of(std::string_view hex) const {
  return fmt::format("{}{}sha256/{}", display_, display_.ends_with('/') ? "" : "/", hex);
}

void LayerStore::remove_stale_staging() const {
  // ".tmp-<hex>-<pid>": never a whole layer.
  fs::remove_stale_staging(
      sha256_.get(),
      [](std::string_view name) -> std::optional<pid_t> {
        const std::size_t dash = name.rfind('-');
        if (!name.starts_with(kStagingPrefix) || dash == std::string_view::npos || dash < kStagingPrefix.size()) {
          return std::nullopt;
        }
        return parse_pid(name.substr(dash + 1));
      },
      [&](std::string_view name) { return display_of(name); });
}

LayerStore::Staging::Staging(const LayerStore& store, std::string hex)
    : store_(store), hex_(std::move(hex)), name_(fmt::format("{}{}-{}", kStagingPrefix, hex_, getpid())),
      display_(store.display_of(name_)) {
  // A leftover of ours (same pid, after a crash in a pid namespace) goes first.
  remove_tree_at(store_.sha256_.get(), name_);
  if (mkdirat(store_.sha256_.get(), name_.c_str(), 0755) != 0) fail("create staging directory", display_, errno);
  registered_.emplace(store_.path_of(name_));
  dir_ = Fd(openat(store_.sha256_.get(), name_.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!dir_.valid()) fail("open staging directory", display_, errno);
}

LayerStore::Staging::~Staging() {
  if (!done_) remove_tree_at(store_.sha256_.get(), name_);
}

bool LayerStore::Staging::commit() {
  dir_.reset();
  done_ = true;
  const int from = store_.sha256_.get();
  int renamed = renameat2(from, name_.c_str(), from, hex_.c_str(), RENAME_NOREPLACE);
  // A file system without RENAME_NOREPLACE: a plain rename fails over a
  // non-empty directory too (an empty layer replaced by its twin is alike).
  if (renamed != 0 && errno == EINVAL) renamed = renameat(from, name_.c_str(), from, hex_.c_str());
  if (renamed == 0) return true;
  const int error = errno;
  if (error == EEXIST || error == ENOTEMPTY) {
    // Another run completed the same layer first: theirs is kept.
    remove_tree_at(store_.sha256_.get(), name_);
    if (!store_.has(hex_)) refuse_non_directory(store_.display_of(hex_));
    return false;
  }
  remove_tree_at(store_.sha256_.get(), name_);
  fail("complete layer", store_.display_of(hex_), error);
}

}  // namespace undocker::fs
