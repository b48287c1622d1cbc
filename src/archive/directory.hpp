// An image layout read in place from a directory given with -f: an OCI
// image layout (`oci-layout`, `index.json`, `blobs/`) or an unpacked
// docker-archive (`manifest.json`, or the legacy `repositories` and
// `<id>/json`). The loaders see it through MemberIndex like a tar's members.
//
// Nothing is copied: each regular file is mapped on its own the first time
// its bytes are asked for, and stays mapped for the run. Every name is
// resolved from the directory's handle one component at a time with
// O_NOFOLLOW, following symlinks by hand (as the tar form follows symlink
// members): a symlink that leads out of the directory (an absolute target,
// or `..` above it) is an error naming it, and so is a name that reaches
// anything but a regular file. The files must not change while undocker
// reads them (a mapped file that shrinks raises SIGBUS, as for -f FILE).
#pragma once

#include <sys/types.h>

#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "archive/member.hpp"
#include "util/bytes.hpp"

namespace undocker::archive {

class DirectoryMembers {
 public:
  /// Walks the directory open on dir_fd (taken over) once, bounded by
  /// limits::kMaxInputDirectoryDepth and kMaxInputDirectoryEntries, and
  /// records every file, symlink and special file (not directories) under
  /// its path relative to the directory. Throws FormatError past a limit,
  /// IoError when the directory cannot be read.
  DirectoryMembers(int dir_fd, std::string name);
  ~DirectoryMembers();
  DirectoryMembers(const DirectoryMembers&) = delete;
  DirectoryMembers& operator=(const DirectoryMembers&) = delete;

  const std::vector<Member>& members() const { return members_; }
  bool contains(std::string_view name) const;

  /// The regular file `name` reaches, resolved now on disk: nullopt when
  /// nothing is there; FormatError when a symlink on the way leaves the
  /// directory or the file is not a regular one. The member's name is the
  /// resolved path.
  std::optional<Member> find_file(std::string_view name) const;

  /// The file's bytes, mapped on the first call (thread-safe). IoError
  /// when the file changed since find_file.
  Bytes data(const Member& member) const;

 private:
  struct Opened;
  struct Mapping {
    void* address = nullptr;
    std::size_t size_bytes = 0;
  };

  void walk(int dir_fd, const std::string& prefix, std::size_t depth);
  std::optional<Opened> resolve(std::string_view requested, bool for_reading) const;
  [[noreturn]] void fail(std::string_view name, std::string_view problem) const;

  int dir_fd_;
  std::string name_;
  std::vector<Member> members_;
  std::unordered_map<std::string, std::size_t> by_name_;
  mutable std::mutex mutex_;
  mutable std::map<std::string, Mapping> mappings_;  // by resolved name
  mutable std::map<std::string, std::pair<dev_t, ino_t>> identities_;  // what find_file saw
};

}  // namespace undocker::archive
