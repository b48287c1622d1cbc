#include "tar/header.hpp"

#include <cstring>

namespace undocker::tar {

bool is_zero_block(Bytes block) {
  // Eight bytes at a time: a header's name makes the first word nonzero,
  // so most calls end at once.
  std::size_t i = 0;
  for (; i + 8 <= block.size(); i += 8) {
    std::uint64_t word;
    std::memcpy(&word, block.data() + i, 8);
    if (word != 0) return false;
  }
  for (; i < block.size(); ++i) {
    if (block[i] != 0) return false;
  }
  return true;
}

bool checksum_matches(const UstarHeader& header) {
  const std::optional<std::int64_t> stored = parse_number(header.checksum);
  if (!stored) return false;
  const auto* bytes = reinterpret_cast<const unsigned char*>(&header);
  const std::size_t checksum_begin = offsetof(UstarHeader, checksum);
  const std::size_t checksum_end = checksum_begin + sizeof(header.checksum);
  // Every header of an archive is summed: plain loops over the whole block
  // (which the compiler vectorizes), then the checksum field taken out and
  // counted as the eight spaces it stands for.
  // 32-bit lanes: 512 bytes of at most 255 cannot overflow them, and
  // summing in 64-bit lanes took four times as many instructions.
  std::uint32_t block_sum = 0;
  for (std::size_t i = 0; i < kBlockSize; ++i) block_sum += bytes[i];
  std::int64_t unsigned_sum = block_sum;
  for (std::size_t i = checksum_begin; i < checksum_end; ++i) unsigned_sum += ' ' - bytes[i];
  if (*stored == unsigned_sum) return true;
  // Some old writers summed signed chars.
  std::int64_t signed_sum = 0;
  for (std::size_t i = 0; i < kBlockSize; ++i) signed_sum += static_cast<signed char>(bytes[i]);
  for (std::size_t i = checksum_begin; i < checksum_end; ++i) signed_sum += ' ' - static_cast<signed char>(bytes[i]);
  return *stored == signed_sum;
}

std::optional<std::int64_t> parse_number(std::string_view field) {
  if (field.empty()) return std::nullopt;
  const auto first = static_cast<unsigned char>(field[0]);
  if (first & 0x80) {
    // Base-256: big-endian two's complement after the marker bit. Work on
    // the one's complement of negative numbers so both signs share a loop.
    const std::uint8_t invert = (first & 0x40) ? 0xff : 0x00;
    std::uint64_t magnitude = 0;
    for (std::size_t i = 0; i < field.size(); ++i) {
      std::uint8_t byte = static_cast<std::uint8_t>(static_cast<std::uint8_t>(field[i]) ^ invert);
      if (i == 0) byte &= 0x7f;
      if ((magnitude >> 56) != 0) return std::nullopt;
      magnitude = (magnitude << 8) | byte;
    }
    if ((magnitude >> 63) != 0) return std::nullopt;
    const auto value = static_cast<std::int64_t>(magnitude);
    return invert ? ~value : value;
  }
  // Octal: optional leading spaces, digits, then spaces or NULs to the end.
  std::size_t i = 0;
  while (i < field.size() && field[i] == ' ') ++i;
  std::uint64_t value = 0;
  bool any_digit = false;
  for (; i < field.size() && field[i] >= '0' && field[i] <= '7'; ++i) {
    if (value > (UINT64_MAX >> 3)) return std::nullopt;
    value = (value << 3) | static_cast<std::uint64_t>(field[i] - '0');
    any_digit = true;
  }
  for (; i < field.size(); ++i) {
    if (field[i] != ' ' && field[i] != '\0') return std::nullopt;
  }
  if (!any_digit) {
    // An all-NUL or all-space field reads as 0 (GNU tar and Go agree).
    return 0;
  }
  if (value > static_cast<std::uint64_t>(INT64_MAX)) return std::nullopt;
  return static_cast<std::int64_t>(value);
}

std::string_view field_string(const char* field, std::size_t size) {
  const void* nul = std::memchr(field, '\0', size);
  const std::size_t length = nul ? static_cast<std::size_t>(static_cast<const char*>(nul) - field) : size;
  return {field, length};
}

bool is_ustar(const UstarHeader& header) {
  return std::memcmp(header.magic, "ustar\0", 6) == 0;
}

}  // namespace undocker::tar
