// Directory metadata, applied last. Creating entries inside a directory
// changes its mtime, and a read-only directory mode would stop later
// entries, so each directory's owner, mode and mtime wait until every layer
// is written; then they are set deepest first, each directory reopened with
// O_NOFOLLOW so a symlink planted since cannot redirect the change
// (libarchive issue 745).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "tar/pax.hpp"

namespace undocker::fs {

class RootDir;

struct DirMetadata {
  std::uint32_t mode = 0755;
  std::int64_t uid = 0;
  std::int64_t gid = 0;
  tar::Timestamp mtime;
  bool mtime_only = false;  // a directory from before this run: only its mtime is put back
};

class DirFixups {
 public:
  /// Records (or replaces) the metadata a directory entry asks for.
  void record(std::string_view clean_path, const DirMetadata& metadata);

  /// A directory that existed before this run and that this run changes
  /// (adds or removes entries in): its mtime is put back at the end, unless
  /// an entry of this run records its metadata. Applying layer A, then B in
  /// another run, thus equals applying both in one (SPEC section 3).
  void keep_mtime(std::string_view clean_path, tar::Timestamp mtime);

  /// Forgets clean_path and everything below it (it was removed).
  void forget(std::string_view clean_path);

  /// Applies every record, deepest first. chown only when set_owner.
  /// Returns the number of directories updated.
  std::size_t apply(RootDir& root, bool set_owner);

  std::size_t size() const { return pending_.size(); }

 private:
  std::map<std::string, DirMetadata> pending_;
};

}  // namespace undocker::fs
