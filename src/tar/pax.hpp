// POSIX pax extended headers ('x' for the next entry, 'g' for all that
// follow) and GNU long names ('L', 'K'). They are pending state: read before
// a real entry, consumed by exactly that entry, then reset.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace undocker::tar {

/// A timestamp with nanoseconds, as pax mtime records carry.
struct Timestamp {
  std::int64_t seconds = 0;
  std::uint32_t nanoseconds = 0;
};

/// Values an extension header overrides in the entry that follows.
struct PaxValues {
  std::optional<std::string> path;
  std::optional<std::string> link_path;
  std::optional<std::uint64_t> size;
  std::optional<Timestamp> mtime;
  std::optional<std::int64_t> uid;
  std::optional<std::int64_t> gid;
  std::optional<std::string> uname;
  std::optional<std::string> gname;
  std::optional<std::uint32_t> dev_major;
  std::optional<std::uint32_t> dev_minor;
  std::vector<std::pair<std::string, std::string>> xattrs;
  // GNU sparse keys (pax formats 0.0, 0.1, 1.0), kept raw for tar/sparse.
  std::optional<std::string> sparse_name;
  std::optional<std::uint64_t> sparse_real_size;
  std::optional<std::string> sparse_major;
  std::optional<std::string> sparse_minor;
  std::optional<std::string> sparse_map;          // 0.1: "off,len,off,len"
  std::vector<std::uint64_t> sparse_offsets_0_0;  // 0.0: repeated records
  std::vector<std::uint64_t> sparse_numbytes_0_0;

  /// Values of `later` replace ours where set; xattrs accumulate, a later
  /// value of a name replacing the earlier one.
  void merge_from(const PaxValues& later);

  /// Keys held (each set field and each xattr) and the bytes of their
  /// values: what bounds a 'g' header's state (util/limits.hpp).
  std::size_t key_count() const;
  std::size_t value_bytes() const;

  /// True when any GNU.sparse.* key was read.
  bool has_sparse_keys() const;
};

/// Parses the body of a pax header ("LEN key=value\n" records) into values.
/// Throws FormatError naming `where` when a record is malformed, or when
/// values would hold more than limits::kMaxXattrsPerEntry xattrs.
void parse_pax_records(std::string_view body, PaxValues& values, std::string_view where);

/// Parses a pax decimal time "[-]SECONDS[.FRACTION]".
std::optional<Timestamp> parse_pax_time(std::string_view text);

/// Parses an unsigned decimal number with no sign, spaces or overflow.
std::optional<std::uint64_t> parse_decimal(std::string_view text);

}  // namespace undocker::tar
