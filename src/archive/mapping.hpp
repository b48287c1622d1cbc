// The outer archive, mapped read-only into memory once. Every member is a
// view into this mapping; nothing is copied and nothing is read twice.
#pragma once

#include <memory>
#include <string>

#include "util/bytes.hpp"

namespace boost::interprocess {
class file_mapping;
class mapped_region;
}  // namespace boost::interprocess

namespace undocker::archive {

class MappedArchive {
 public:
  /// Maps the regular file open on fd (a file given with -f, a redirected
  /// stdin, or the spool of a pipe). `name` is used in messages. A 0-byte
  /// file maps to an empty view (mmap refuses length 0).
  MappedArchive(int fd, std::string name);
  ~MappedArchive();
  MappedArchive(const MappedArchive&) = delete;
  MappedArchive& operator=(const MappedArchive&) = delete;

  Bytes bytes() const { return bytes_; }
  const std::string& name() const { return name_; }

 private:
  std::unique_ptr<boost::interprocess::file_mapping> file_;
  std::unique_ptr<boost::interprocess::mapped_region> region_;
  Bytes bytes_;
  std::string name_;
};

}  // namespace undocker::archive
