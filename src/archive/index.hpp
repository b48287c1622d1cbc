// The member index of the outer archive: one pass over the mapped tar
// records where every member's data lies, so that manifests, configs and
// layers are later read straight from the mapping by offset. A directory
// given with -f (an OCI layout, an unpacked docker-archive) is the same
// interface over its files, each mapped on its own (archive/directory.hpp).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "archive/member.hpp"
#include "tar/reader.hpp"
#include "util/bytes.hpp"
#include "util/file_range.hpp"

namespace undocker::archive {

class DirectoryMembers;

class MemberIndex {
 public:
  /// Reads every header of the outer archive once. Throws FormatError.
  /// archive_fd, when given, is the file `archive` maps, open for as long
  /// as the index is used (see file_range).
  MemberIndex(Bytes archive, std::string archive_name, int archive_fd = -1);

  /// The files of the directory open on dir_fd (taken over), read in place;
  /// `directory_name` names it in messages. Throws FormatError when the
  /// directory exceeds the walk's limits.
  static std::unique_ptr<MemberIndex> open_directory(int dir_fd, std::string directory_name);

  ~MemberIndex();
  MemberIndex(const MemberIndex&) = delete;
  MemberIndex& operator=(const MemberIndex&) = delete;

  /// The regular-file member stored under `name`, following symlink and
  /// hardlink members inside the archive (skopeo stores `layer.tar` as a
  /// symlink to another layer's copy). nullopt when absent. For a
  /// directory: FormatError when a symlink on the way leads out of it or
  /// what the name reaches is not a regular file.
  std::optional<Member> find_file(std::string_view name) const;

  /// True when some member has exactly this name (of any type).
  bool contains(std::string_view name) const;

  /// The member's bytes, a view into the mapping (for a directory, of that
  /// file, mapped on first use and kept for the run).
  Bytes data(const Member& member) const;

  /// Where data(member) lies in the archive's file, when the index was
  /// given its descriptor; nullopt otherwise (and for a directory's files).
  std::optional<FileRange> file_range(const Member& member) const;

  const std::vector<Member>& members() const;
  const std::string& archive_name() const { return archive_name_; }

 private:
  MemberIndex(std::unique_ptr<DirectoryMembers> directory, std::string directory_name);

  std::unique_ptr<DirectoryMembers> directory_;  // set for a directory input
  Bytes archive_;
  int archive_fd_ = -1;
  std::string archive_name_;
  std::vector<Member> members_;
  std::unordered_map<std::string, std::size_t> by_name_;  // last one wins, as tar
};

}  // namespace undocker::archive
