// The 512-byte tar header block (POSIX ustar, with the GNU variants) and its
// numeric fields. Every field is read through a bounds-safe parser: the
// header comes from an untrusted archive.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "util/bytes.hpp"

namespace undocker::tar {

inline constexpr std::size_t kBlockSize = 512;

/// The on-disk layout of a ustar header block, byte for byte.
struct UstarHeader {
  char name[100];
  char mode[8];
  char uid[8];
  char gid[8];
  char size[12];
  char mtime[12];
  char checksum[8];
  char typeflag;
  char linkname[100];
  char magic[6];
  char version[2];
  char uname[32];
  char gname[32];
  char devmajor[8];
  char devminor[8];
  char prefix[155];
  char padding[12];
};
static_assert(sizeof(UstarHeader) == kBlockSize);

/// Old GNU headers reuse the prefix area for times and the sparse map.
struct GnuSparseHeaderTail {
  char atime[12];
  char ctime[12];
  char offset[12];
  char longnames[4];
  char unused;
  char sparse[4][24];
  char is_extended;
  char real_size[12];
  char padding[17];
};
static_assert(sizeof(GnuSparseHeaderTail) == sizeof(UstarHeader::prefix) + sizeof(UstarHeader::padding));

/// True when all 512 bytes are zero (an end-of-archive block).
bool is_zero_block(Bytes block);

/// True when the stored checksum matches the block, summed either as
/// unsigned bytes (POSIX) or as signed bytes (old Sun and some Go writers).
bool checksum_matches(const UstarHeader& header);

/// A numeric field: octal digits padded with spaces or NULs, or GNU
/// base-256 (high bit of the first byte set; 0xff means negative).
/// nullopt when the field is malformed or does not fit in 64 bits.
std::optional<std::int64_t> parse_number(std::string_view field);

/// A NUL-terminated string field (not terminated when it fills the field).
std::string_view field_string(const char* field, std::size_t size);

template <std::size_t N>
std::string_view field_string(const char (&field)[N]) {
  return field_string(field, N);
}

template <std::size_t N>
std::optional<std::int64_t> parse_number(const char (&field)[N]) {
  return parse_number(std::string_view(field, N));
}

/// True for POSIX ustar magic ("ustar\0"), whose header has a prefix field
/// (GNU's "ustar " headers do not).
bool is_ustar(const UstarHeader& header);

}  // namespace undocker::tar
