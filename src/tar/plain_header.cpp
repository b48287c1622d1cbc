#include "tar/plain_header.hpp"

#include <cstring>

#include "tar/header.hpp"
#include "util/limits.hpp"

namespace undocker::tar {

namespace {

// The type flags TarReader reads without any other block.
bool plain_type(char typeflag) { return typeflag == '\0' || (typeflag >= '0' && typeflag <= '7'); }

// Octal digits, then a NUL or a space in the last byte: what parse_number
// reads as a value of at most 8^(N-1) - 1, which fits every field it is
// used for (ids: 7 digits, below 2^21).
template <std::size_t N>
bool all_digits_then_end(const char (&field)[N]) {
  bool digits = true;
  for (std::size_t i = 0; i + 1 < N; ++i) digits &= static_cast<unsigned char>(field[i] - '0') < 8;
  return digits && (field[N - 1] == '\0' || field[N - 1] == ' ');
}

bool valid_id(const std::optional<std::int64_t>& id) { return id && *id >= 0 && *id <= UINT32_MAX - 1; }

bool valid_device_number(const std::optional<std::int64_t>& number) {
  return number && *number >= 0 && *number <= UINT32_MAX;
}

}  // namespace

bool read_plain_header(const std::uint8_t* block, std::uint64_t bytes_after, PlainHeader& out) {
  // Fields are read in place: UstarHeader is char arrays only, aligned to
  // nothing.
  const auto& header = *reinterpret_cast<const UstarHeader*>(block);
  // A zero block fails the checksum (its field does not read as 256).
  if (!plain_type(header.typeflag) || !checksum_matches(header)) return false;
  out.type = entry_type(header.typeflag);
  const std::optional<std::int64_t> size = parse_number(header.size);
  if (!size || *size < 0 || static_cast<std::uint64_t>(*size) > limits::kMaxEntryBytes) return false;
  // Fields only checked, not used: most are in the form every writer uses,
  // which is valid at a glance; anything else is parsed as TarReader does.
  const bool mode_ok = all_digits_then_end(header.mode) || [&] {
    const std::optional<std::int64_t> mode = parse_number(header.mode);
    return mode && *mode >= 0;
  }();
  if (!mode_ok || !(all_digits_then_end(header.uid) || valid_id(parse_number(header.uid))) ||
      !(all_digits_then_end(header.gid) || valid_id(parse_number(header.gid))) ||
      !(all_digits_then_end(header.mtime) || parse_number(header.mtime))) {
    return false;
  }
  if ((out.type == EntryType::kCharDevice || out.type == EntryType::kBlockDevice) &&
      (!valid_device_number(parse_number(header.devmajor)) || !valid_device_number(parse_number(header.devminor)))) {
    return false;
  }
  out.name = field_string(header.name);
  // As TarReader: the prefix field exists only in POSIX ustar headers.
  out.prefix = is_ustar(header) ? field_string(header.prefix) : std::string_view();
  if (out.name.empty() && out.prefix.empty()) return false;
  out.link_target = field_string(header.linkname);
  const std::uint64_t data_bytes = is_header_only(header.typeflag) ? 0 : static_cast<std::uint64_t>(*size);
  const std::uint64_t padded = (data_bytes + kBlockSize - 1) / kBlockSize * kBlockSize;
  if (padded > bytes_after) return false;  // TarReader tells a cut entry from an unpadded last one
  out.entry_bytes = kBlockSize + padded;
  return true;
}

}  // namespace undocker::tar
