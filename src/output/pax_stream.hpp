// Writing a POSIX pax tar stream (ustar headers, "ustar\0" "00"), as GNU tar
// --format=posix and Python's tarfile write it. A pax 'x' header goes before
// an entry only when ustar cannot hold a value: a name or link target over
// 100 bytes (we never use the ustar prefix split, as mold's lib/tar.cc),
// a size of 8 GiB or more, an id over 07777777, an mtime with nanoseconds
// or outside the octal field, and xattrs (SCHILY.xattr.NAME, as GNU tar
// and libarchive store them). The ustar field of a value moved to pax
// holds 0, as Python's tarfile does.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "util/bytes.hpp"

namespace undocker::output {

/// One archive member, as its headers describe it.
struct PaxMember {
  std::string name;  // relative; a directory's ends in '/'
  char type = '0';
  std::uint32_t mode = 0;
  std::uint64_t uid = 0;
  std::uint64_t gid = 0;
  std::uint64_t size_bytes = 0;
  std::int64_t mtime_seconds = 0;
  std::uint32_t mtime_nanoseconds = 0;
  std::string link_target;
  std::uint32_t dev_major = 0;
  std::uint32_t dev_minor = 0;
  std::vector<std::pair<std::string, std::string>> xattrs;  // in the order given
};

/// A buffered tar stream on a descriptor: headers and small data are
/// gathered into 1 MiB writes; large data views (of the mapped archive) are
/// written straight from where they are. EPIPE throws OutputClosed; other
/// failures IoError naming the entry being written.
class PaxStream {
 public:
  explicit PaxStream(int fd);

  /// The headers of member (a pax 'x' header first when needed).
  void write_headers(const PaxMember& member);
  /// Entry data; call pad() once all of it was written.
  void write_data(Bytes data);
  void write_zeros(std::uint64_t size);
  void pad(std::uint64_t size_bytes);
  /// The two zero blocks that end an archive, then flush.
  void finish();
  void flush();

 private:
  void write_buffered(const void* data, std::size_t size);
  void write_fully(const char* data, std::size_t size);
  void wait_writable() const;

  int fd_;
  std::unique_ptr<char[]> buffer_;
  std::size_t used_ = 0;
  std::string entry_;  // the member being written, for errors
};

}  // namespace undocker::output
