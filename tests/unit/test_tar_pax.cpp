// pax extended header bodies: the records a root filesystem needs, the ones
// it ignores, and every way a record can be malformed (each a FormatError
// naming where the header is), plus the decimal and time parsers.
#include <doctest/doctest.h>

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>

#include "support/tar_builder.hpp"
#include "tar/pax.hpp"
#include "util/error.hpp"

namespace undocker::tar {

namespace {

constexpr char kWhere[] = "layer.tar: offset 1024";

PaxValues parse(std::string_view body) {
  PaxValues values;
  parse_pax_records(body, values, kWhere);
  return values;
}

// The FormatError message parsing `body` raises, or "" if none.
std::string error_of(std::string_view body) {
  try {
    parse(body);
  } catch (const FormatError& error) {
    return error.what();
  }
  return "";
}

}  // namespace

// Outside the unnamed namespace, so that argument-dependent lookup from
// doctest's and std::optional's comparisons finds it.
static bool operator==(const Timestamp& a, const Timestamp& b) {
  return a.seconds == b.seconds && a.nanoseconds == b.nanoseconds;
}

}  // namespace undocker::tar

namespace doctest {
template <>
struct StringMaker<undocker::tar::Timestamp> {
  static String convert(const undocker::tar::Timestamp& time) {
    return (std::to_string(time.seconds) + "s+" + std::to_string(time.nanoseconds) + "ns").c_str();
  }
};
}  // namespace doctest

namespace undocker::tar {

TEST_SUITE_BEGIN("tar::pax");

TEST_CASE("pax records: path, linkpath, size, owner") {
  const PaxValues values = parse(test::pax_body({{"path", "usr/lib/a-very-long-name.so"},
                                                 {"linkpath", "../target"},
                                                 {"size", "123456789012"},
                                                 {"uid", "3000000000"},
                                                 {"gid", "70000"},
                                                 {"uname", "root"},
                                                 {"gname", "wheel"}}));
  CHECK(values.path == "usr/lib/a-very-long-name.so");
  CHECK(values.link_path == "../target");
  CHECK(values.size == 123456789012u);
  CHECK(values.uid == 3000000000);
  CHECK(values.gid == 70000);
  CHECK(values.uname == "root");
  CHECK(values.gname == "wheel");
  CHECK_FALSE(values.mtime.has_value());
}

TEST_CASE("pax records: mtime with a fraction, and before the epoch") {
  CHECK(parse(test::pax_record("mtime", "1700000000.5")).mtime == Timestamp{1700000000, 500000000});
  CHECK(parse(test::pax_record("mtime", "1700000000")).mtime == Timestamp{1700000000, 0});
  CHECK(parse(test::pax_record("mtime", "-1.25")).mtime == Timestamp{-2, 750000000});
  CHECK(parse(test::pax_record("mtime", "-86400")).mtime == Timestamp{-86400, 0});
}

TEST_CASE("pax records: the body GNU tar writes for a long name") {
  // tar --format=pax --pax-option=delete=atime,delete=ctime,exthdr.name=%d/PaxHeaders/%f
  //     --mtime=@1700000000.5 ... -cf pax.tar d/nnn…n (120 n)    (GNU tar 1.34)
  const std::string name = "d/" + std::string(120, 'n');
  const std::string body = "132 path=" + name + "\n22 mtime=1700000000.5\n";
  REQUIRE(body.size() == 154);  // the size field of that 'x' header: octal 232
  CHECK(body == test::pax_record("path", name) + test::pax_record("mtime", "1700000000.5"));
  const PaxValues values = parse(body);
  CHECK(values.path == name);
  CHECK(values.mtime == Timestamp{1700000000, 500000000});
}

TEST_CASE("pax records: SCHILY.xattr keys, in order, the last of a name winning") {
  const PaxValues values = parse(test::pax_body({{"SCHILY.xattr.user.one", "1"},
                                                 {"SCHILY.xattr.security.capability", std::string("\x01\0\0\x02", 4)},
                                                 {"SCHILY.xattr.user.one", "uno"},
                                                 {"SCHILY.xattr.user.eq", "a=b"}}));
  REQUIRE(values.xattrs.size() == 3);
  CHECK(values.xattrs[0] == std::pair<std::string, std::string>("user.one", "uno"));
  CHECK(values.xattrs[1] == std::pair<std::string, std::string>("security.capability", std::string("\x01\0\0\x02", 4)));
  CHECK(values.xattrs[2] == std::pair<std::string, std::string>("user.eq", "a=b"));
}

TEST_CASE("pax records: values may hold '=', newlines and NULs, since the length delimits them") {
  const PaxValues values = parse(test::pax_record("path", "a=b\nc") + test::pax_record("linkpath", std::string("x\0y", 3)));
  CHECK(values.path == "a=b\nc");
  CHECK(values.link_path == std::string("x\0y", 3));
}

TEST_CASE("pax records: unknown keys are ignored") {
  const PaxValues values = parse(test::pax_body({{"atime", "1700000000.123"},
                                                 {"ctime", "not even a number"},
                                                 {"comment", "made by hand"},
                                                 {"charset", "ISO-IR 10646 2000 UTF-8"},
                                                 {"LIBARCHIVE.creationtime", "1"},
                                                 {"SCHILY.fflags", "nodump"},
                                                 {"path", "kept"}}));
  CHECK(values.path == "kept");
  CHECK(values.xattrs.empty());
  CHECK_FALSE(values.size.has_value());
  CHECK_FALSE(values.mtime.has_value());
}

TEST_CASE("pax records: NUL padding after the last record ends the body") {
  CHECK(parse(test::pax_record("path", "a") + std::string(100, '\0')).path == "a");
  CHECK_FALSE(parse(std::string(512, '\0')).path.has_value());
  CHECK_FALSE(parse("").path.has_value());
}

TEST_CASE("pax records: a later record of the same key wins") {
  CHECK(parse(test::pax_record("path", "first") + test::pax_record("path", "second")).path == "second");
}

TEST_CASE("pax records: device numbers") {
  const PaxValues values = parse(test::pax_body({{"SCHILY.devmajor", "259"}, {"SCHILY.devminor", "1048575"}}));
  CHECK(values.dev_major == 259u);
  CHECK(values.dev_minor == 1048575u);
}

TEST_CASE("pax device numbers that do not fit in 32 bits are refused") {
  // A value past 2^32 must not wrap around to another device.
  CHECK_THROWS_AS(parse(test::pax_record("SCHILY.devmajor", "4294967297")), FormatError);
  CHECK_THROWS_AS(parse(test::pax_record("SCHILY.devminor", "-1")), FormatError);
}

TEST_CASE("malformed pax records throw FormatError") {
  // Each body is one bad record; the good record after it must not matter.
  const std::string good = test::pax_record("path", "a");
  SUBCASE("length not digits") { CHECK_THROWS_AS(parse("1x path=a\n" + good), FormatError); }
  SUBCASE("length longer than what remains") { CHECK_THROWS_AS(parse("99 path=a\n"), FormatError); }
  SUBCASE("length 0") { CHECK_THROWS_AS(parse("0 path=a\n" + good), FormatError); }
  SUBCASE("length shorter than its own digits") { CHECK_THROWS_AS(parse("2 path=a\n" + good), FormatError); }
  SUBCASE("no length at all") { CHECK_THROWS_AS(parse(" path=a\n"), FormatError); }
  SUBCASE("no space after the length") { CHECK_THROWS_AS(parse("10path=abc\n"), FormatError); }
  SUBCASE("negative length") { CHECK_THROWS_AS(parse("-9 path=a\n"), FormatError); }
  SUBCASE("missing '='") { CHECK_THROWS_AS(parse("8 pathx\n" + good), FormatError); }
  SUBCASE("empty key") { CHECK_THROWS_AS(parse("7 =abc\n" + good), FormatError); }
  SUBCASE("missing newline") { CHECK_THROWS_AS(parse("9 path=ab" + good), FormatError); }
  SUBCASE("length one short, so the newline falls outside") { CHECK_THROWS_AS(parse("9 path=ab\n"), FormatError); }
  SUBCASE("huge length") { CHECK_THROWS_AS(parse("99999999999999999999999 path=a\n"), FormatError); }
  SUBCASE("length of 2^64") { CHECK_THROWS_AS(parse("18446744073709551616 path=a\n"), FormatError); }
  SUBCASE("length of 2^64 - 1") { CHECK_THROWS_AS(parse("18446744073709551615 path=a\n"), FormatError); }
  SUBCASE("garbage after a good record") { CHECK_THROWS_AS(parse(good + "junk"), FormatError); }
}

TEST_CASE("malformed pax records: exact messages") {
  CHECK(error_of("99 path=a\n") == "layer.tar: offset 1024: malformed pax header: record length 99 is invalid");
  CHECK(error_of("9 path=ab") == "layer.tar: offset 1024: malformed pax header: record does not end in a newline");
  CHECK(error_of("8 pathx\n") == "layer.tar: offset 1024: malformed pax header: record without a key");
  CHECK(error_of("99999999999999999999999 path=a\n") ==
        "layer.tar: offset 1024: malformed pax header: record without a length");
  // The bad length is quoted escaped, so a control byte cannot forge output.
  CHECK(error_of("1\x1b[2J path=a\n") ==
        "layer.tar: offset 1024: malformed pax header: record length 1\\x1b[2J is invalid");
}

TEST_CASE("pax values that are not numbers where numbers belong") {
  CHECK(error_of(test::pax_record("size", "12a")) == "layer.tar: offset 1024: malformed pax header: bad size 12a");
  CHECK(error_of(test::pax_record("size", "-1")) == "layer.tar: offset 1024: malformed pax header: bad size -1");
  CHECK(error_of(test::pax_record("size", "")) == "layer.tar: offset 1024: malformed pax header: bad size ");
  // Sizes past 2^60 cannot be real (limits::kMaxEntryBytes).
  CHECK_NOTHROW(parse(test::pax_record("size", "1152921504606846976")));
  CHECK(error_of(test::pax_record("size", "1152921504606846977")) ==
        "layer.tar: offset 1024: malformed pax header: bad size 1152921504606846977");
  CHECK(error_of(test::pax_record("mtime", "1.2.3")) == "layer.tar: offset 1024: malformed pax header: bad mtime 1.2.3");
  CHECK(error_of(test::pax_record("uid", "x")) == "layer.tar: offset 1024: malformed pax header: bad uid x");
  CHECK(error_of(test::pax_record("gid", "1 ")) == "layer.tar: offset 1024: malformed pax header: bad gid 1 ");
  CHECK(error_of(test::pax_record("SCHILY.xattr.", "v")) == "layer.tar: offset 1024: malformed pax header: empty xattr name");
  // A negative owner parses; the reader refuses it with the entry's name.
  CHECK(parse(test::pax_record("uid", "-1")).uid == -1);
}

TEST_CASE("PaxValues::merge_from: later values win, xattrs accumulate") {
  PaxValues earlier = parse(test::pax_body({{"path", "a"}, {"uid", "1"}, {"SCHILY.xattr.user.x", "1"}}));
  const PaxValues later = parse(test::pax_body({{"uid", "2"}, {"gid", "3"}, {"SCHILY.xattr.user.x", "2"},
                                                {"SCHILY.xattr.user.y", "3"}}));
  earlier.merge_from(later);
  CHECK(earlier.path == "a");
  CHECK(earlier.uid == 2);
  CHECK(earlier.gid == 3);
  REQUIRE(earlier.xattrs.size() == 2);
  CHECK(earlier.xattrs[0] == std::pair<std::string, std::string>("user.x", "2"));
  CHECK(earlier.xattrs[1] == std::pair<std::string, std::string>("user.y", "3"));
}

TEST_CASE("parse_pax_time") {
  CHECK(parse_pax_time("0") == Timestamp{0, 0});
  CHECK(parse_pax_time("1.5") == Timestamp{1, 500000000});
  CHECK(parse_pax_time("1.000000001") == Timestamp{1, 1});
  CHECK(parse_pax_time("1.123456789999") == Timestamp{1, 123456789});  // digits past ns drop out
  CHECK(parse_pax_time("1.") == Timestamp{1, 0});
  CHECK(parse_pax_time("-0.5") == Timestamp{-1, 500000000});
  CHECK(parse_pax_time("-1") == Timestamp{-1, 0});
  CHECK(parse_pax_time("-1.000000001") == Timestamp{-2, 999999999});
  CHECK(parse_pax_time("9223372036854775806") == Timestamp{std::numeric_limits<std::int64_t>::max() - 1, 0});

  CHECK(parse_pax_time("") == std::nullopt);
  CHECK(parse_pax_time("-") == std::nullopt);
  CHECK(parse_pax_time(".5") == std::nullopt);
  CHECK(parse_pax_time("+1") == std::nullopt);
  CHECK(parse_pax_time("--1") == std::nullopt);
  CHECK(parse_pax_time(" 1") == std::nullopt);
  CHECK(parse_pax_time("1 ") == std::nullopt);
  CHECK(parse_pax_time("1e9") == std::nullopt);
  CHECK(parse_pax_time("1.5x") == std::nullopt);
  CHECK(parse_pax_time("1.-5") == std::nullopt);
  CHECK(parse_pax_time("99999999999999999999") == std::nullopt);  // past 2^63
}

TEST_CASE("parse_decimal") {
  CHECK(parse_decimal("0") == 0u);
  CHECK(parse_decimal("007") == 7u);
  CHECK(parse_decimal("1234567890") == 1234567890u);
  CHECK(parse_decimal("18446744073709551615") == std::numeric_limits<std::uint64_t>::max());

  CHECK(parse_decimal("") == std::nullopt);
  CHECK(parse_decimal("18446744073709551616") == std::nullopt);  // 2^64
  CHECK(parse_decimal("99999999999999999999") == std::nullopt);
  CHECK(parse_decimal("123456789012345678901") == std::nullopt);  // 21 digits
  CHECK(parse_decimal("-1") == std::nullopt);
  CHECK(parse_decimal("+1") == std::nullopt);
  CHECK(parse_decimal(" 1") == std::nullopt);
  CHECK(parse_decimal("1 ") == std::nullopt);
  CHECK(parse_decimal("0x10") == std::nullopt);
  CHECK(parse_decimal(std::string_view("1\0", 2)) == std::nullopt);
}

TEST_SUITE_END();

}  // namespace undocker::tar
