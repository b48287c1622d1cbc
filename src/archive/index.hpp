// The member index of the outer archive: one pass over the mapped tar
// records where every member's data lies, so that manifests, configs and
// layers are later read straight from the mapping by offset.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "tar/reader.hpp"
#include "util/bytes.hpp"

namespace undocker::archive {

struct Member {
  std::string name;  // cleaned: no leading "./" or "/", no empty components
  tar::EntryType type = tar::EntryType::kFile;
  std::uint64_t header_offset = 0;
  std::uint64_t data_offset = 0;
  std::uint64_t size_bytes = 0;
  std::string link_target;  // raw target of a symlink or hardlink member
};

class MemberIndex {
 public:
  /// Reads every header of the outer archive once. Throws FormatError.
  MemberIndex(Bytes archive, std::string archive_name);

  /// The regular-file member stored under `name`, following symlink and
  /// hardlink members inside the archive (skopeo stores `layer.tar` as a
  /// symlink to another layer's copy). nullopt when absent.
  std::optional<Member> find_file(std::string_view name) const;

  /// True when some member has exactly this name (of any type).
  bool contains(std::string_view name) const;

  /// The member's bytes, a view into the mapping.
  Bytes data(const Member& member) const;

  const std::vector<Member>& members() const { return members_; }
  const std::string& archive_name() const { return archive_name_; }

 private:
  Bytes archive_;
  std::string archive_name_;
  std::vector<Member> members_;
  std::unordered_map<std::string, std::size_t> by_name_;  // last one wins, as tar
};


}  // namespace undocker::archive
