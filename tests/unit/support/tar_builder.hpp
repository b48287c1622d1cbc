// A tar writer for tests: exact 512-byte headers with a knob for every
// field, including the ones a real writer would never get wrong (checksum,
// number encodings, pax record lengths), so tests can build both the archives
// producers emit and the broken ones an attacker would send.
//
//   Buffer tar = TarBuilder()
//                    .pax({{"path", long_name}})
//                    .file("ignored", "hello")
//                    .end()
//                    .bytes();
//
// Headers follow POSIX ustar (IEEE 1003.1-2001, "pax Interchange Format"):
// octal fields are zero-padded digits ending in a NUL, the checksum is six
// digits, a NUL and a space, as GNU tar writes them. Every knob is a plain
// field of Header, so a test can say `Header{.name = "a", .typeflag = '5'}`.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace undocker::test {

using Buffer = std::vector<std::uint8_t>;

inline constexpr std::size_t kTarBlock = 512;

/// A numeric header field and how it is spelled.
class Number {
 public:
  enum class Encoding {
    kOctal,          // "0000644\0": digits, zero-padded, one NUL (POSIX)
    kOctalSpace,     // "0000644 ": digits, zero-padded, one space
    kOctalOldGnu,    // "   644 \0": leading spaces, digits, space, NUL (old GNU tar)
    kOctalFull,      // "00000000644": digits fill the whole field, no terminator
    kBase256,        // GNU: 0x80 marker, big-endian two's complement (0xff.. if negative)
    kRaw,            // exactly the bytes given, NUL-padded to the field
  };

  Number() = default;
  Number(std::int64_t value) : value_(value) {}  // NOLINT: implicit so `.mode = 0755` reads naturally
  Number(std::int64_t value, Encoding encoding) : value_(value), encoding_(encoding) {}

  static Number octal_space(std::int64_t value) { return {value, Encoding::kOctalSpace}; }
  static Number octal_old_gnu(std::int64_t value) { return {value, Encoding::kOctalOldGnu}; }
  static Number octal_full(std::int64_t value) { return {value, Encoding::kOctalFull}; }
  static Number base256(std::int64_t value) { return {value, Encoding::kBase256}; }
  static Number raw(std::string bytes) {
    Number number(0, Encoding::kRaw);
    number.raw_ = std::move(bytes);
    return number;
  }

  std::int64_t value() const { return value_; }

  /// Writes the field; throws std::invalid_argument when the value cannot
  /// be spelled that way in `width` bytes (a mistake in the test itself).
  void encode(char* field, std::size_t width) const {
    std::memset(field, 0, width);
    switch (encoding_) {
      case Encoding::kRaw:
        if (raw_.size() > width) throw std::invalid_argument("raw number longer than its field");
        std::memcpy(field, raw_.data(), raw_.size());
        return;
      case Encoding::kBase256: {
        auto bits = static_cast<std::uint64_t>(value_);
        const std::uint8_t fill = value_ < 0 ? 0xff : 0x00;
        for (std::size_t i = width; i-- > 0;) {
          field[i] = static_cast<char>(width - i <= 8 ? static_cast<std::uint8_t>(bits & 0xff) : fill);
          if (width - i <= 8) bits >>= 8;
        }
        // Bit 0x40 of the first byte is the sign (GNU tar, Go); 0x80 the marker.
        const auto first = static_cast<std::uint8_t>(field[0]);
        if ((first & 0xc0) != (value_ < 0 ? 0xc0 : 0x00)) throw std::invalid_argument("base-256 value too large");
        field[0] = static_cast<char>(first | 0x80);
        return;
      }
      default:
        break;
    }
    if (value_ < 0) throw std::invalid_argument("octal fields hold no negative numbers");
    std::size_t digits = width - 1;
    if (encoding_ == Encoding::kOctalOldGnu) digits = width - 2;
    if (encoding_ == Encoding::kOctalFull) digits = width;
    // Right-aligned digits in a field of `digits` characters.
    const char pad = encoding_ == Encoding::kOctalOldGnu ? ' ' : '0';
    std::string text(digits, pad);
    std::size_t at = digits;
    auto rest = static_cast<std::uint64_t>(value_);
    do {
      if (at == 0) throw std::invalid_argument("octal value too large for its field");
      text[--at] = static_cast<char>('0' + (rest & 7));
      rest >>= 3;
    } while (rest != 0);
    if (encoding_ == Encoding::kOctalSpace) text += ' ';
    if (encoding_ == Encoding::kOctalOldGnu) text += ' ';  // the NUL is already there
    std::memcpy(field, text.data(), std::min(text.size(), width));
  }

 private:
  std::int64_t value_ = 0;
  Encoding encoding_ = Encoding::kOctal;
  std::string raw_;
};

enum class Magic {
  kUstar,  // "ustar\0" "00": POSIX; the prefix field is a path prefix
  kGnu,    // "ustar " " \0": GNU; the prefix area holds times and sparse data
  kNone,   // all NUL: pre-POSIX v7 tar
};

enum class Checksum {
  kCorrect,  // unsigned byte sum, as POSIX says
  kSigned,   // summed as signed chars (old Sun tar, some Go writers)
  kWrong,    // the correct sum plus one
};

/// Every field of one header block. Strings are copied as is, truncated to
/// their field (a full 100-byte name has no terminating NUL, as in ustar).
struct Header {
  std::string name{};
  std::string prefix{};
  std::string linkname{};
  char typeflag = '0';
  Number mode = 0644;
  Number uid = 0;
  Number gid = 0;
  std::optional<Number> size{};  // unset: the length of the data added with it
  Number mtime = 0;
  Number devmajor = 0;
  Number devminor = 0;
  std::string uname{};
  std::string gname{};
  Magic magic = Magic::kUstar;
  Checksum checksum = Checksum::kCorrect;
};

/// Field offsets of the ustar header, for tests that poke single bytes.
namespace offsets {
inline constexpr std::size_t kName = 0, kMode = 100, kUid = 108, kGid = 116, kSize = 124, kMtime = 136,
                             kChecksum = 148, kTypeflag = 156, kLinkname = 157, kMagic = 257, kVersion = 263,
                             kUname = 265, kGname = 297, kDevmajor = 329, kDevminor = 337, kPrefix = 345;
}  // namespace offsets

/// The 512 bytes of `header`; `data_size` fills the size field when the
/// header does not set one.
inline Buffer encode_header(const Header& header, std::uint64_t data_size = 0) {
  Buffer block(kTarBlock, 0);
  char* base = reinterpret_cast<char*>(block.data());
  auto put_string = [&](std::size_t offset, std::size_t width, const std::string& text) {
    std::memcpy(base + offset, text.data(), std::min(text.size(), width));
  };
  put_string(offsets::kName, 100, header.name);
  header.mode.encode(base + offsets::kMode, 8);
  header.uid.encode(base + offsets::kUid, 8);
  header.gid.encode(base + offsets::kGid, 8);
  header.size.value_or(Number(static_cast<std::int64_t>(data_size))).encode(base + offsets::kSize, 12);
  header.mtime.encode(base + offsets::kMtime, 12);
  base[offsets::kTypeflag] = header.typeflag;
  put_string(offsets::kLinkname, 100, header.linkname);
  switch (header.magic) {
    case Magic::kUstar: std::memcpy(base + offsets::kMagic, "ustar\0" "00", 8); break;
    case Magic::kGnu: std::memcpy(base + offsets::kMagic, "ustar  \0", 8); break;
    case Magic::kNone: break;
  }
  put_string(offsets::kUname, 32, header.uname);
  put_string(offsets::kGname, 32, header.gname);
  if (header.magic != Magic::kNone) {
    // GNU tar leaves the device fields of non-devices empty in its own
    // format and zero-filled in ustar; tests of the GNU layout want NULs.
    if (header.magic == Magic::kUstar) {
      header.devmajor.encode(base + offsets::kDevmajor, 8);
      header.devminor.encode(base + offsets::kDevminor, 8);
    } else if (header.devmajor.value() != 0 || header.devminor.value() != 0) {
      header.devmajor.encode(base + offsets::kDevmajor, 8);
      header.devminor.encode(base + offsets::kDevminor, 8);
    }
    put_string(offsets::kPrefix, 155, header.prefix);
  }

  // The checksum field counts as eight spaces while summing.
  std::memset(base + offsets::kChecksum, ' ', 8);
  std::int64_t sum = 0;
  for (std::uint8_t byte : block) {
    sum += header.checksum == Checksum::kSigned ? static_cast<std::int64_t>(static_cast<std::int8_t>(byte)) : byte;
  }
  if (header.checksum == Checksum::kWrong) sum += 1;
  if (sum < 0) throw std::invalid_argument("negative checksum cannot be written in octal");
  Number(sum).encode(base + offsets::kChecksum, 7);  // six digits and a NUL
  base[offsets::kChecksum + 7] = ' ';
  return block;
}

/// One pax record, "LEN key=value\n", where LEN counts its own digits.
inline std::string pax_record(std::string_view key, std::string_view value) {
  const std::size_t rest = 1 + key.size() + 1 + value.size() + 1;  // " key=value\n"
  std::size_t length = rest + 1;
  while (std::to_string(length).size() + rest != length) length = std::to_string(length).size() + rest;
  return std::to_string(length) + " " + std::string(key) + "=" + std::string(value) + "\n";
}

using PaxRecords = std::vector<std::pair<std::string, std::string>>;

inline std::string pax_body(const PaxRecords& records) {
  std::string body;
  for (const auto& [key, value] : records) body += pax_record(key, value);
  return body;
}

class TarBuilder {
 public:
  /// A header, its data and the zero padding to the next block. The size
  /// field says data.size() unless header.size is set.
  TarBuilder& add(const Header& header, std::string_view data = {}) {
    append(encode_header(header, data.size()));
    return this->data(data);
  }

  /// A header block alone (size from header.size, else 0).
  TarBuilder& header(const Header& header) {
    append(encode_header(header, 0));
    return *this;
  }

  /// Data followed by NULs up to the next 512-byte boundary.
  TarBuilder& data(std::string_view bytes) {
    raw(bytes);
    padding(bytes.size());
    return *this;
  }

  /// Bytes as given: no padding.
  TarBuilder& raw(std::string_view bytes) {
    bytes_.insert(bytes_.end(), bytes.begin(), bytes.end());
    return *this;
  }
  TarBuilder& raw(const Buffer& bytes) {
    bytes_.insert(bytes_.end(), bytes.begin(), bytes.end());
    return *this;
  }

  /// NULs that round `data_size` up to whole blocks.
  TarBuilder& padding(std::size_t data_size) {
    bytes_.insert(bytes_.end(), (kTarBlock - data_size % kTarBlock) % kTarBlock, 0);
    return *this;
  }

  TarBuilder& file(const std::string& name, std::string_view content, Number mode = 0644, Number mtime = 0) {
    return add(Header{.name = name, .typeflag = '0', .mode = mode, .mtime = mtime}, content);
  }
  TarBuilder& directory(const std::string& name, Number mode = 0755, Number mtime = 0) {
    return add(Header{.name = name, .typeflag = '5', .mode = mode, .mtime = mtime});
  }
  TarBuilder& symlink(const std::string& name, const std::string& target, Number mtime = 0) {
    return add(Header{.name = name, .linkname = target, .typeflag = '2', .mode = 0777, .mtime = mtime});
  }
  TarBuilder& hardlink(const std::string& name, const std::string& target) {
    return add(Header{.name = name, .linkname = target, .typeflag = '1'});
  }

  /// A pax extended header ('x': the next entry; 'g': all later ones).
  TarBuilder& pax(const PaxRecords& records, char typeflag = 'x') { return pax_raw(pax_body(records), typeflag); }
  TarBuilder& pax_global(const PaxRecords& records) { return pax(records, 'g'); }

  /// A pax header with any body at all, malformed ones included.
  TarBuilder& pax_raw(std::string_view body, char typeflag = 'x') {
    return add(Header{.name = typeflag == 'g' ? "GlobalHead.0.0" : "PaxHeaders.0/entry", .typeflag = typeflag}, body);
  }

  /// GNU long name ('L') and long link target ('K'), NUL-terminated.
  TarBuilder& long_name(const std::string& name) { return gnu_long('L', name); }
  TarBuilder& long_link(const std::string& target) { return gnu_long('K', target); }

  TarBuilder& zero_block() {
    bytes_.insert(bytes_.end(), kTarBlock, 0);
    return *this;
  }

  /// The two zero blocks that end an archive.
  TarBuilder& end() { return zero_block().zero_block(); }

  std::size_t size() const { return bytes_.size(); }
  const Buffer& bytes() const { return bytes_; }

 private:
  TarBuilder& gnu_long(char typeflag, const std::string& text) {
    std::string body = text;
    body += '\0';
    return add(Header{.name = "././@LongLink", .typeflag = typeflag, .magic = Magic::kGnu}, body);
  }
  void append(const Buffer& block) { bytes_.insert(bytes_.end(), block.begin(), block.end()); }

  Buffer bytes_;
};

/// The first `keep` bytes of an archive: a stream cut anywhere.
inline Buffer cut(const Buffer& bytes, std::size_t keep) {
  return Buffer(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(std::min(keep, bytes.size())));
}

/// The archive without its last `count` bytes.
inline Buffer drop_last(const Buffer& bytes, std::size_t count) {
  return cut(bytes, bytes.size() - std::min(count, bytes.size()));
}

/// A golden block from the rows of an `xxd -p`-style dump: each row is an
/// offset and its bytes in hex; every byte no row names is zero.
struct HexRow {
  std::size_t offset;
  std::string_view hex;
};

inline Buffer from_hex_rows(std::size_t size, std::initializer_list<HexRow> rows) {
  auto nibble = [](char c) -> std::uint8_t {
    if (c >= '0' && c <= '9') return static_cast<std::uint8_t>(c - '0');
    if (c >= 'a' && c <= 'f') return static_cast<std::uint8_t>(c - 'a' + 10);
    throw std::invalid_argument("not a lowercase hex digit");
  };
  Buffer bytes(size, 0);
  for (const HexRow& row : rows) {
    if (row.hex.size() % 2 != 0 || row.offset + row.hex.size() / 2 > size) {
      throw std::invalid_argument("hex row does not fit");
    }
    for (std::size_t i = 0; i < row.hex.size(); i += 2) {
      bytes[row.offset + i / 2] = static_cast<std::uint8_t>(nibble(row.hex[i]) << 4 | nibble(row.hex[i + 1]));
    }
  }
  return bytes;
}

}  // namespace undocker::test
