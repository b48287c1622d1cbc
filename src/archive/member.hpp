// One member of the outer archive: a tar member, or a file of an image
// layout read in place from a directory (archive/directory.hpp).
#pragma once

#include <cstdint>
#include <string>

#include "tar/reader.hpp"

namespace undocker::archive {

struct Member {
  std::string name;  // cleaned: no leading "./" or "/", no empty components
  tar::EntryType type = tar::EntryType::kFile;
  std::uint64_t header_offset = 0;  // tar only; 0 for a directory's file
  std::uint64_t data_offset = 0;    // tar only; 0 for a directory's file
  std::uint64_t size_bytes = 0;
  std::string link_target;  // raw target of a symlink or hardlink member
};

}  // namespace undocker::archive
