// The 512-byte header block: numeric fields (octal with every padding
// producers use, GNU base-256), the checksum in both sums, zero blocks and
// string fields. Two headers written by GNU tar are kept as golden bytes.
#include <doctest/doctest.h>

#include <cstdint>
#include <cstring>
#include <limits>
#include <optional>
#include <string>
#include <string_view>

#include "support/tar_builder.hpp"
#include "tar/header.hpp"

namespace undocker::tar {

namespace {

using test::Buffer;
using test::Header;
using test::Number;

constexpr std::int64_t kInt64Max = std::numeric_limits<std::int64_t>::max();
constexpr std::int64_t kInt64Min = std::numeric_limits<std::int64_t>::min();

// Made once with GNU tar 1.34:
//   printf hello > hello.txt
//   tar --format=ustar --mtime=@1700000000 --owner=0 --group=0
//       --numeric-owner --mode=0644 -cf ustar.tar hello.txt   (one line)
// The first 512 bytes; rows are `xxd` rows that are not all zero.
const Buffer kGnuTarUstarHeader = test::from_hex_rows(512, {
    {0x000, "68656c6c6f2e74787400000000000000"},
    {0x060, "00000000303030303634340030303030"},
    {0x070, "30303000303030303030300030303030"},
    {0x080, "30303030303035003134353234373730"},
    {0x090, "34303000303131313036002030000000"},
    {0x100, "00757374617200303000000000000000"},
    {0x140, "00000000000000000030303030303030"},
    {0x150, "00303030303030300000000000000000"},
});

// Made the same way in GNU format, with a uid past the 7-digit octal
// maximum and a negative mtime, so both are written in base-256:
//   tar --format=gnu --mtime=@-1 --owner=0:2097152 --group=0:0
//       --numeric-owner --mode=0644 -cf gnu.tar hello.txt   (one line)
const Buffer kGnuTarGnuHeader = test::from_hex_rows(512, {
    {0x000, "68656c6c6f2e74787400000000000000"},
    {0x060, "00000000303030303634340080000000"},
    {0x070, "00200000303030303030300030303030"},
    {0x080, "3030303030303500ffffffffffffffff"},
    {0x090, "ffffffff303134323330002030000000"},
    {0x100, "00757374617220200000000000000000"},
});

UstarHeader as_header(const Buffer& block) {
  REQUIRE(block.size() == kBlockSize);
  UstarHeader header;
  std::memcpy(&header, block.data(), kBlockSize);
  return header;
}

std::optional<std::int64_t> parse(std::string_view field) { return parse_number(field); }

// A field of `width` bytes written by the builder, read back.
std::optional<std::int64_t> round_trip(const Number& number, std::size_t width) {
  std::string field(width, '\0');
  number.encode(field.data(), width);
  return parse_number(field);
}

}  // namespace

TEST_SUITE_BEGIN("tar::header");

TEST_CASE("parse_number reads octal with every padding producers use") {
  CHECK(parse(std::string_view("0000644\0", 8)) == 0644);  // POSIX: digits, NUL
  CHECK(parse("0000644 ") == 0644);                         // trailing space
  CHECK(parse(std::string_view("   644 \0", 8)) == 0644);  // old GNU: leading spaces, space, NUL
  CHECK(parse(std::string_view("644\0\0\0\0\0", 8)) == 0644);  // short, NUL-filled
  CHECK(parse("644     ") == 0644);
  CHECK(parse("00000000005") == 5);
  CHECK(parse("7") == 7);
  CHECK(parse(std::string_view("0000000\0", 8)) == 0);
}

TEST_CASE("parse_number reads an all-NUL or all-space field as 0") {
  CHECK(parse(std::string_view("\0\0\0\0\0\0\0\0", 8)) == 0);
  CHECK(parse("        ") == 0);
  CHECK(parse(std::string_view("  \0 \0  ", 8)) == 0);
}

TEST_CASE("parse_number refuses what is not octal") {
  CHECK(parse("") == std::nullopt);
  CHECK(parse(std::string_view("0000648\0", 8)) == std::nullopt);  // 8 is no octal digit
  CHECK(parse(std::string_view("0000694\0", 8)) == std::nullopt);
  CHECK(parse("0000644x") == std::nullopt);
  CHECK(parse("-0000644") == std::nullopt);
  CHECK(parse("+0000644") == std::nullopt);
  CHECK(parse("00 00644") == std::nullopt);                     // a space between digits
  CHECK(parse(std::string_view("\0\0\0\0644", 7)) == std::nullopt);  // digits after NUL padding
  CHECK(parse("644 1   ") == std::nullopt);
  CHECK(parse("0x1a4   ") == std::nullopt);
}

TEST_CASE("parse_number refuses octal past 63 bits") {
  CHECK(parse("777777777777777777777") == kInt64Max);             // 2^63 - 1: 21 digits
  CHECK(parse("1000000000000000000000") == std::nullopt);        // 2^63
  CHECK(parse("1777777777777777777777") == std::nullopt);        // 2^64 - 1
  CHECK(parse("7777777777777777777777777") == std::nullopt);     // past 64 bits
  CHECK(parse("0000000000000000000000000000000017") == 017);     // many leading zeros are fine
}

TEST_CASE("parse_number: the largest octal values of 8- and 12-byte fields") {
  CHECK(parse(std::string_view("7777777\0", 8)) == 07777777);         // uid, gid, mode: 2097151
  CHECK(parse("77777777") == 077777777);                              // 8 digits, no terminator
  CHECK(parse(std::string_view("77777777777\0", 12)) == 077777777777);  // size: 8 GiB - 1
  CHECK(parse("777777777777") == 0777777777777);                      // 12 digits, no terminator
  CHECK(round_trip(Number::octal_full(0777777777777), 12) == 0777777777777);
  CHECK(round_trip(Number::octal_old_gnu(0644), 8) == 0644);
  CHECK(round_trip(Number::octal_space(0644), 8) == 0644);
}

TEST_CASE("parse_number reads positive base-256") {
  CHECK(parse(std::string_view("\x80\0\0\0\0\x20\0\0", 8)) == 2097152);
  CHECK(parse(std::string_view("\x80\0\0\0\0\0\0\0\0\0\0\x05", 12)) == 5);
  CHECK(parse(std::string_view("\x80", 1)) == 0);
  // The largest 12-byte value that fits: 2^63 - 1.
  CHECK(parse(std::string_view("\x80\0\0\0\x7f\xff\xff\xff\xff\xff\xff\xff", 12)) == kInt64Max);
  // After the marker bit comes the sign bit: an 8-byte field holds 62 bits.
  CHECK(parse(std::string_view("\xbf\xff\xff\xff\xff\xff\xff\xff", 8)) == (std::int64_t{1} << 62) - 1);
}

TEST_CASE("parse_number reads negative base-256") {
  CHECK(parse(std::string_view("\xff\xff\xff\xff\xff\xff\xff\xff", 8)) == -1);
  CHECK(parse(std::string_view("\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff", 12)) == -1);
  CHECK(parse(std::string_view("\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xfe", 12)) == -2);
  CHECK(parse(std::string_view("\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x9c", 12)) == -100);
  CHECK(parse(std::string_view("\xff\xff\xff\xff\x80\0\0\0\0\0\0\0", 12)) == kInt64Min);
}

TEST_CASE("parse_number refuses base-256 past 64 bits") {
  CHECK(parse(std::string_view("\x80\0\0\0\x80\0\0\0\0\0\0\0", 12)) == std::nullopt);    // 2^63
  CHECK(parse(std::string_view("\x80\0\0\x01\0\0\0\0\0\0\0\0", 12)) == std::nullopt);    // 2^64
  CHECK(parse(std::string_view("\x81\0\0\0\0\0\0\0\0\0\0\0", 12)) == std::nullopt);      // 2^88
  CHECK(parse(std::string_view("\xff\xff\xff\xff\x7f\xff\xff\xff\xff\xff\xff\xff", 12)) == std::nullopt);  // -2^63 - 1
  CHECK(parse(std::string_view("\xff\xff\xff\xfe\xff\xff\xff\xff\xff\xff\xff\xff", 12)) == std::nullopt);  // -2^64 - 1
}

TEST_CASE("base-256 numbers written by the builder read back") {
  for (std::int64_t value : {std::int64_t{0}, std::int64_t{1}, std::int64_t{2097152}, std::int64_t{077777777777 + 1},
                             kInt64Max, std::int64_t{-1}, std::int64_t{-100}, kInt64Min}) {
    CAPTURE(value);
    CHECK(round_trip(Number::base256(value), 12) == value);
  }
  CHECK(round_trip(Number::base256(-1), 8) == -1);
  CHECK(round_trip(Number::base256(2097152), 8) == 2097152);
}

TEST_CASE("checksum_matches accepts the unsigned sum") {
  CHECK(checksum_matches(as_header(test::encode_header(Header{.name = "a"}))));
  CHECK(checksum_matches(as_header(kGnuTarUstarHeader)));
  CHECK(checksum_matches(as_header(kGnuTarGnuHeader)));
}

TEST_CASE("checksum_matches accepts the signed sum of old writers") {
  // Bytes above 0x7f make the two sums differ: a UTF-8 name and a base-256 uid.
  const Header header{.name = "caf\xc3\xa9", .uid = Number::base256(-2), .checksum = test::Checksum::kSigned};
  const Buffer block = test::encode_header(header);
  const Buffer unsigned_block = test::encode_header(Header{.name = header.name, .uid = header.uid});
  REQUIRE(std::memcmp(block.data() + 148, unsigned_block.data() + 148, 8) != 0);
  CHECK(checksum_matches(as_header(block)));
  CHECK(checksum_matches(as_header(unsigned_block)));
}

TEST_CASE("checksum_matches refuses a wrong or malformed checksum") {
  CHECK_FALSE(checksum_matches(as_header(test::encode_header(Header{.name = "a", .checksum = test::Checksum::kWrong}))));

  Buffer flipped = kGnuTarUstarHeader;
  flipped[0] = 'j';  // "jello.txt"
  CHECK_FALSE(checksum_matches(as_header(flipped)));

  Buffer garbage = test::encode_header(Header{.name = "a"});
  std::memcpy(garbage.data() + 148, "0x1234\0 ", 8);
  CHECK_FALSE(checksum_matches(as_header(garbage)));

  // An all-zero checksum field would read as 0: never a real sum.
  Buffer zero = test::encode_header(Header{.name = "a"});
  std::memset(zero.data() + 148, 0, 8);
  CHECK_FALSE(checksum_matches(as_header(zero)));
}

TEST_CASE("checksum_matches accepts other spellings of the same sum") {
  Buffer block = kGnuTarUstarHeader;  // stored as "011106\0 "
  std::memcpy(block.data() + 148, "0011106\0", 8);
  CHECK(checksum_matches(as_header(block)));
  std::memcpy(block.data() + 148, " 11106 \0", 8);
  CHECK(checksum_matches(as_header(block)));
}

TEST_CASE("is_zero_block") {
  Buffer block(kBlockSize, 0);
  CHECK(is_zero_block(block));
  block[511] = 1;
  CHECK_FALSE(is_zero_block(block));
  block[511] = 0;
  block[0] = 0x80;
  CHECK_FALSE(is_zero_block(block));
  CHECK_FALSE(is_zero_block(kGnuTarUstarHeader));
  // Every single nonzero byte counts, in any word and in a short tail.
  for (std::size_t at = 0; at < kBlockSize; ++at) {
    Buffer one(kBlockSize, 0);
    one[at] = 1;
    CHECK_FALSE(is_zero_block(one));
  }
  Buffer tail(13, 0);
  CHECK(is_zero_block(tail));
  tail[12] = 7;
  CHECK_FALSE(is_zero_block(tail));
}

TEST_CASE("field_string stops at the first NUL, or fills the field") {
  const char field[8] = {'a', 'b', 'c', '\0', 'd', 'e', 'f', '\0'};
  CHECK(field_string(field) == "abc");
  const char full[4] = {'w', 'x', 'y', 'z'};
  CHECK(field_string(full) == "wxyz");
  const char empty[4] = {'\0', 'x', 'y', 'z'};
  CHECK(field_string(empty) == "");

  // A 100-byte name has no terminator in ustar.
  const UstarHeader header = as_header(test::encode_header(Header{.name = std::string(100, 'n')}));
  CHECK(field_string(header.name) == std::string(100, 'n'));
  CHECK(field_string(header.linkname) == "");
}

TEST_CASE("the GNU tar ustar header, field by field") {
  const UstarHeader header = as_header(kGnuTarUstarHeader);
  CHECK(field_string(header.name) == "hello.txt");
  CHECK(parse_number(header.mode) == 0644);
  CHECK(parse_number(header.uid) == 0);
  CHECK(parse_number(header.gid) == 0);
  CHECK(parse_number(header.size) == 5);
  CHECK(parse_number(header.mtime) == 1700000000);
  CHECK(parse_number(header.checksum) == 011106);
  CHECK(header.typeflag == '0');
  CHECK(parse_number(header.devmajor) == 0);
  CHECK(is_ustar(header));
}

TEST_CASE("the GNU tar gnu header, with base-256 uid and mtime") {
  const UstarHeader header = as_header(kGnuTarGnuHeader);
  CHECK(field_string(header.name) == "hello.txt");
  CHECK(parse_number(header.uid) == 2097152);
  CHECK(parse_number(header.mtime) == -1);
  CHECK(parse_number(header.size) == 5);
  CHECK(parse_number(header.devmajor) == 0);  // left empty by GNU tar
  CHECK_FALSE(is_ustar(header));  // "ustar  \0": GNU's own magic, with no prefix field
}

TEST_CASE("tar_builder writes the same bytes as GNU tar") {
  // The builder's defaults follow GNU tar's ustar spelling exactly; if this
  // fails, every test built on it tests something else than it says.
  CHECK(test::encode_header(Header{.name = "hello.txt", .mtime = 1700000000}, 5) == kGnuTarUstarHeader);
  CHECK(test::encode_header(Header{.name = "hello.txt",
                                   .uid = Number::base256(2097152),
                                   .mtime = Number::base256(-1),
                                   .magic = test::Magic::kGnu},
                            5) == kGnuTarGnuHeader);
}

TEST_SUITE_END();

}  // namespace undocker::tar
