// TarReader over archives built byte by byte: every entry type, pax and GNU
// extension headers as pending state for exactly one entry, base-256 sizes,
// the ways a stream can end, and the exact messages for broken ones (each
// starting with the archive's name).
#include <doctest/doctest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "util/byte_source.hpp"
#include "support/tar_builder.hpp"
#include "tar/reader.hpp"
#include "util/error.hpp"

namespace undocker::tar {

namespace {

using test::Buffer;
using test::Header;
using test::Number;
using test::TarBuilder;

constexpr char kArchive[] = "blobs/sha256/0123abcd";

struct ReadEntry {
  Entry entry;
  std::string data;
  std::uint64_t data_offset = 0;
};

std::string read_rest(TarReader& reader, std::size_t piece_bytes = 1 << 16) {
  std::string data;
  for (Bytes piece = reader.read_data(piece_bytes); !piece.empty(); piece = reader.read_data(piece_bytes)) {
    data.append(as_chars(piece));
  }
  return data;
}

// Every entry with its data; throws what the reader throws.
std::vector<ReadEntry> read_all(const Buffer& tar) {
  MemorySource source(tar);
  TarReader reader(source, kArchive);
  std::vector<ReadEntry> entries;
  Entry entry;
  while (reader.next(entry)) {
    const std::uint64_t data_offset = reader.data_offset();
    entries.push_back({entry, read_rest(reader), data_offset});
  }
  CHECK_FALSE(reader.next(entry));  // the end stays the end
  return entries;
}

// The FormatError message reading all of `tar` raises, or "" if none.
std::string error_of(const Buffer& tar) {
  try {
    read_all(tar);
  } catch (const FormatError& error) {
    return error.what();
  }
  return "";
}

std::string error_prefix() { return std::string(kArchive) + ": "; }

}  // namespace

TEST_SUITE_BEGIN("tar::reader");

TEST_CASE("a plain file: name, mode, owner, mtime, data") {
  const Buffer tar = TarBuilder()
                         .add(Header{.name = "etc/hosts", .mode = 0640, .uid = 1000, .gid = 100, .mtime = 1700000000},
                              "127.0.0.1 localhost\n")
                         .end()
                         .bytes();
  const std::vector<ReadEntry> entries = read_all(tar);
  REQUIRE(entries.size() == 1);
  const Entry& entry = entries[0].entry;
  CHECK(entry.path == "etc/hosts");
  CHECK(entry.type == EntryType::kFile);
  CHECK(entry.mode == 0640);
  CHECK(entry.uid == 1000);
  CHECK(entry.gid == 100);
  CHECK(entry.mtime.seconds == 1700000000);
  CHECK(entry.mtime.nanoseconds == 0);
  CHECK(entry.size_bytes == 20);
  CHECK(entry.header_offset == 0);
  CHECK(entries[0].data_offset == 512);
  CHECK(entries[0].data == "127.0.0.1 localhost\n");
}

TEST_CASE("ustar prefix joins the name; GNU headers have no prefix") {
  const std::string prefix(150, 'p');
  const Buffer tar = TarBuilder()
                         .add(Header{.name = "file", .prefix = prefix + "/q"}, "x")
                         .add(Header{.name = "gnu-file", .prefix = "not-a-prefix", .magic = test::Magic::kGnu}, "y")
                         .bytes();
  const std::vector<ReadEntry> entries = read_all(tar);
  REQUIRE(entries.size() == 2);
  CHECK(entries[0].entry.path == prefix + "/q/file");
  CHECK(entries[1].entry.path == "gnu-file");
}

TEST_CASE("every entry type") {
  const Buffer tar = TarBuilder()
                         .add(Header{.name = "file0", .typeflag = '0'}, "zero")
                         .add(Header{.name = "file-nul", .typeflag = '\0'}, "nul")
                         .add(Header{.name = "contiguous", .typeflag = '7'}, "seven")
                         .add(Header{.name = "hard", .linkname = "file0", .typeflag = '1'})
                         .add(Header{.name = "sym", .linkname = "../somewhere", .typeflag = '2', .mode = 0777})
                         .add(Header{.name = "dev/null", .typeflag = '3', .mode = 0666, .devmajor = 1, .devminor = 3})
                         .add(Header{.name = "dev/sda", .typeflag = '4', .mode = 0660, .devmajor = 8, .devminor = 0})
                         .add(Header{.name = "dir/", .typeflag = '5', .mode = 0755})
                         .add(Header{.name = "fifo", .typeflag = '6', .mode = 0600})
                         .end()
                         .bytes();
  const std::vector<ReadEntry> entries = read_all(tar);
  REQUIRE(entries.size() == 9);
  CHECK(entries[0].entry.type == EntryType::kFile);
  CHECK(entries[0].data == "zero");
  CHECK(entries[1].entry.type == EntryType::kFile);
  CHECK(entries[1].data == "nul");
  CHECK(entries[2].entry.type == EntryType::kFile);
  CHECK(entries[2].data == "seven");
  CHECK(entries[3].entry.type == EntryType::kHardlink);
  CHECK(entries[3].entry.link_target == "file0");
  CHECK(entries[4].entry.type == EntryType::kSymlink);
  CHECK(entries[4].entry.link_target == "../somewhere");
  CHECK(entries[4].entry.mode == 0777);
  CHECK(entries[5].entry.type == EntryType::kCharDevice);
  CHECK(entries[5].entry.dev_major == 1);
  CHECK(entries[5].entry.dev_minor == 3);
  CHECK(entries[6].entry.type == EntryType::kBlockDevice);
  CHECK(entries[6].entry.dev_major == 8);
  CHECK(entries[6].entry.dev_minor == 0);
  CHECK(entries[7].entry.type == EntryType::kDirectory);
  CHECK(entries[7].entry.path == "dir/");
  CHECK(entries[8].entry.type == EntryType::kFifo);
  for (std::size_t i = 3; i < entries.size(); ++i) {
    CAPTURE(i);
    CHECK(entries[i].entry.size_bytes == 0);
    CHECK(entries[i].data.empty());
  }
}

TEST_CASE("mode keeps setuid, setgid and sticky, and drops the type bits some writers add") {
  const Buffer tar = TarBuilder()
                         .add(Header{.name = "su", .mode = 04755})
                         .add(Header{.name = "sg", .typeflag = '5', .mode = 02775})
                         .add(Header{.name = "tmp", .typeflag = '5', .mode = 01777})
                         .add(Header{.name = "typed", .mode = 0100644})  // S_IFREG | 0644, as old writers did
                         .bytes();
  const std::vector<ReadEntry> entries = read_all(tar);
  REQUIRE(entries.size() == 4);
  CHECK(entries[0].entry.mode == 04755);
  CHECK(entries[1].entry.mode == 02775);
  CHECK(entries[2].entry.mode == 01777);
  CHECK(entries[3].entry.mode == 0644);
}

TEST_CASE("header-only types with a nonzero size field have no data") {
  // Go's archive/tar (and so Docker) ignores the size of links, devices,
  // directories and FIFOs; the next header follows right away.
  for (char typeflag : {'1', '2', '3', '4', '5', '6'}) {
    CAPTURE(typeflag);
    const Buffer tar = TarBuilder()
                           .header(Header{.name = "odd", .linkname = "file", .typeflag = typeflag, .size = 1000})
                           .add(Header{.name = "next"}, "data")
                           .end()
                           .bytes();
    const std::vector<ReadEntry> entries = read_all(tar);
    REQUIRE(entries.size() == 2);
    CHECK(entries[0].entry.size_bytes == 0);
    CHECK(entries[0].data.empty());
    CHECK(entries[1].entry.path == "next");
    CHECK(entries[1].data == "data");
  }
}

TEST_CASE("pax overrides path, linkpath, size, mtime, uid and gid") {
  const std::string long_path = "usr/share/" + std::string(200, 'n');
  const Buffer tar = TarBuilder()
                         .pax({{"path", long_path},
                               {"linkpath", "ignored-for-a-file"},
                               {"size", "5"},
                               {"mtime", "1700000000.25"},
                               {"uid", "3000000"},
                               {"gid", "4000000"},
                               {"SCHILY.xattr.user.k", "v"}})
                         .add(Header{.name = "short", .size = 3, .mtime = 5}, "hello")
                         .add(Header{.name = "plain", .uid = 7, .mtime = 9}, "x")
                         .end()
                         .bytes();
  const std::vector<ReadEntry> entries = read_all(tar);
  REQUIRE(entries.size() == 2);
  const Entry& entry = entries[0].entry;
  CHECK(entry.path == long_path);
  CHECK(entry.link_target == "ignored-for-a-file");
  CHECK(entry.size_bytes == 5);
  CHECK(entries[0].data == "hello");
  CHECK(entry.mtime.seconds == 1700000000);
  CHECK(entry.mtime.nanoseconds == 250000000);
  CHECK(entry.uid == 3000000);
  CHECK(entry.gid == 4000000);
  REQUIRE(entry.xattrs.size() == 1);
  CHECK(entry.xattrs[0].first == "user.k");
  CHECK(entry.header_offset == 0);  // the entry starts at its pax header
  CHECK(entries[0].data_offset == 1536);
  // An 'x' header is for the next entry only.
  CHECK(entries[1].entry.path == "plain");
  CHECK(entries[1].entry.uid == 7);
  CHECK(entries[1].entry.mtime.seconds == 9);
  CHECK(entries[1].entry.xattrs.empty());
  CHECK(entries[1].entry.header_offset == 2048);
}

TEST_CASE("pax linkpath overrides the link name of a symlink") {
  const std::string target = "/" + std::string(300, 't');
  const Buffer tar =
      TarBuilder().pax({{"linkpath", target}}).symlink("link", "short").end().bytes();
  const std::vector<ReadEntry> entries = read_all(tar);
  REQUIRE(entries.size() == 1);
  CHECK(entries[0].entry.link_target == target);
}

TEST_CASE("pax global headers apply to every later entry; 'x' wins over 'g'") {
  const Buffer tar = TarBuilder()
                         .file("before", "0")
                         .pax_global({{"uid", "11"}, {"mtime", "1600000000"}})
                         .file("first", "1")
                         .pax({{"uid", "12"}})
                         .file("second", "2")
                         .pax_global({{"uid", "13"}})
                         .file("third", "3")
                         .end()
                         .bytes();
  const std::vector<ReadEntry> entries = read_all(tar);
  REQUIRE(entries.size() == 4);
  CHECK(entries[0].entry.uid == 0);
  CHECK(entries[0].entry.mtime.seconds == 0);
  CHECK(entries[1].entry.uid == 11);
  CHECK(entries[1].entry.mtime.seconds == 1600000000);
  CHECK(entries[2].entry.uid == 12);
  CHECK(entries[2].entry.mtime.seconds == 1600000000);
  CHECK(entries[3].entry.uid == 13);  // a later 'g' merges into the earlier one
  CHECK(entries[3].entry.mtime.seconds == 1600000000);
  CHECK(entries[3].data == "3");
}

TEST_CASE("repeated 'x' headers before one entry merge, the later winning") {
  const Buffer tar = TarBuilder()
                         .pax({{"path", "from-first"}, {"uid", "5"}})
                         .pax({{"path", "from-second"}, {"gid", "6"}})
                         .file("ustar-name", "data")
                         .end()
                         .bytes();
  const std::vector<ReadEntry> entries = read_all(tar);
  REQUIRE(entries.size() == 1);
  CHECK(entries[0].entry.path == "from-second");
  CHECK(entries[0].entry.uid == 5);
  CHECK(entries[0].entry.gid == 6);
  CHECK(entries[0].entry.header_offset == 0);
}

TEST_CASE("GNU long names: 'L' for the name, 'K' for the link target") {
  const std::string long_name = std::string(150, 'a') + "/" + std::string(150, 'b');
  const std::string long_target = std::string(250, 'c');
  const Buffer tar = TarBuilder()
                         .long_name(long_name)
                         .long_link(long_target)
                         .add(Header{.name = "truncated", .linkname = "truncated", .typeflag = '2',
                                     .magic = test::Magic::kGnu})
                         .long_name(long_name + "-file")
                         .add(Header{.name = "truncated-file", .magic = test::Magic::kGnu}, "body")
                         .file("short", "s")
                         .end()
                         .bytes();
  const std::vector<ReadEntry> entries = read_all(tar);
  REQUIRE(entries.size() == 3);
  CHECK(entries[0].entry.path == long_name);
  CHECK(entries[0].entry.link_target == long_target);
  CHECK(entries[0].entry.header_offset == 0);
  CHECK(entries[1].entry.path == long_name + "-file");
  CHECK(entries[1].data == "body");
  CHECK(entries[2].entry.path == "short");
}

TEST_CASE("a GNU long name padded with NULs past its terminator") {
  std::string body = "real/name";
  body.append(40, '\0');
  const Buffer tar = TarBuilder()
                         .add(Header{.name = "././@LongLink", .typeflag = 'L', .magic = test::Magic::kGnu}, body)
                         .file("fake", "")
                         .bytes();
  const std::vector<ReadEntry> entries = read_all(tar);
  REQUIRE(entries.size() == 1);
  CHECK(entries[0].entry.path == "real/name");
}

TEST_CASE("pax path wins over a GNU long name") {
  const Buffer tar = TarBuilder().long_name("from-gnu").pax({{"path", "from-pax"}}).file("ustar", "").bytes();
  const std::vector<ReadEntry> entries = read_all(tar);
  REQUIRE(entries.size() == 1);
  CHECK(entries[0].entry.path == "from-pax");
}

TEST_CASE("base-256 size, uid and negative mtime") {
  const std::string data(700, 'd');
  const Buffer tar = TarBuilder()
                         .add(Header{.name = "big",
                                     .uid = Number::base256(2097152),
                                     .size = Number::base256(700),
                                     .mtime = Number::base256(-100)},
                              data)
                         .add(Header{.name = "after", .size = Number::octal_space(1), .mtime = Number::octal_old_gnu(8)},
                              "a")
                         .end()
                         .bytes();
  const std::vector<ReadEntry> entries = read_all(tar);
  REQUIRE(entries.size() == 2);
  CHECK(entries[0].entry.size_bytes == 700);
  CHECK(entries[0].data == data);
  CHECK(entries[0].entry.uid == 2097152);
  CHECK(entries[0].entry.mtime.seconds == -100);
  CHECK(entries[1].entry.path == "after");
  CHECK(entries[1].entry.mtime.seconds == 8);
  CHECK(entries[1].data == "a");
}

TEST_CASE("a signed-byte checksum is accepted") {
  const Buffer tar = TarBuilder()
                         .add(Header{.name = "caf\xc3\xa9", .checksum = test::Checksum::kSigned}, "x")
                         .end()
                         .bytes();
  const std::vector<ReadEntry> entries = read_all(tar);
  REQUIRE(entries.size() == 1);
  CHECK(entries[0].entry.path == "caf\xc3\xa9");
}

TEST_CASE("the archive may end cleanly without end blocks, or with one") {
  const TarBuilder two_files = TarBuilder().file("a", "1").file("b", "22");
  CHECK(read_all(two_files.bytes()).size() == 2);
  CHECK(read_all(TarBuilder(two_files).zero_block().bytes()).size() == 2);
  CHECK(read_all(TarBuilder(two_files).end().bytes()).size() == 2);
  CHECK(read_all(Buffer{}).empty());
  CHECK(read_all(TarBuilder().end().bytes()).empty());
}

TEST_CASE("what follows the two end blocks is not read") {
  // GNU tar pads archives to 10 KiB records; anything there is not ours.
  const Buffer tar = TarBuilder().file("a", "1").end().raw("trailing garbage").bytes();
  CHECK(read_all(tar).size() == 1);
}

TEST_CASE("a zero block followed by data is an error") {
  const Buffer tar = TarBuilder().file("a", "1").zero_block().file("b", "2").end().bytes();
  CHECK(error_of(tar) == error_prefix() + "a zero block at offset 1024 is followed by data");
  const Buffer partial = TarBuilder().file("a", "1").zero_block().raw("xyz").bytes();
  CHECK(error_of(partial) == error_prefix() + "a zero block at offset 1024 is followed by data");
}

TEST_CASE("a bad header checksum is an error naming its offset") {
  const Buffer first = TarBuilder().add(Header{.name = "a", .checksum = test::Checksum::kWrong}, "1").end().bytes();
  CHECK(error_of(first) == error_prefix() + "not a tar archive (header checksum mismatch at offset 0)");

  const Buffer second = TarBuilder()
                            .file("good", std::string(600, 'g'))
                            .add(Header{.name = "bad", .checksum = test::Checksum::kWrong})
                            .end()
                            .bytes();
  CHECK(error_of(second) == error_prefix() + "header checksum mismatch at offset 1536");

  // Text where a header should be.
  Buffer text(1024, 'A');
  CHECK(error_of(text) == error_prefix() + "not a tar archive (header checksum mismatch at offset 0)");
}

TEST_CASE("truncated archives") {
  const std::string data(1000, 'd');
  const Buffer whole = TarBuilder().file("first", "1").file("big", data).end().bytes();
  // first: header 0, data 512; big: header 1024, data 1536..2536, padding to 2560.

  SUBCASE("mid-header") {
    CHECK(error_of(test::cut(whole, 100)) == error_prefix() + "not a tar archive (archive ends inside a header at offset 0)");
    CHECK(error_of(test::cut(whole, 1024 + 511)) == error_prefix() + "archive ends inside a header at offset 1024");
  }
  SUBCASE("mid-data") {
    CHECK(error_of(test::cut(whole, 1536 + 300)) ==
          error_prefix() + "big: archive ends inside the entry's data (700 bytes missing)");
    CHECK(error_of(test::cut(whole, 1536)) ==
          error_prefix() + "big: archive ends inside the entry's data (1000 bytes missing)");
  }
  SUBCASE("mid-data, skipped by next()") {
    const Buffer cut = test::cut(whole, 1536 + 300);
    MemorySource source(cut);
    TarReader reader(source, kArchive);
    Entry entry;
    REQUIRE(reader.next(entry));
    REQUIRE(reader.next(entry));
    CHECK(entry.path == "big");
    CHECK_THROWS_WITH_AS(reader.next(entry), (error_prefix() + "big: archive ends inside the entry's data (700 bytes missing)").c_str(),
                         FormatError);
  }
  SUBCASE("mid-padding, after whole data: the end (umoci insert writes this)") {
    CHECK(read_all(test::cut(whole, 2536 + 10)).size() == 2);
    CHECK(read_all(test::cut(whole, 512 + 1)).size() == 1);
  }
  SUBCASE("at a block boundary: a clean end") {
    CHECK(read_all(test::cut(whole, 2560)).size() == 2);
    CHECK(read_all(test::cut(whole, 1024)).size() == 1);
  }
}

TEST_CASE("an extension header with no entry after it is an error") {
  CHECK(error_of(TarBuilder().file("a", "1").pax({{"path", "b"}}).bytes()) ==
        error_prefix() + "archive ends after an extension header, before its entry");
  CHECK(error_of(TarBuilder().long_name("b").bytes()) ==
        error_prefix() + "archive ends after an extension header, before its entry");
  CHECK(error_of(TarBuilder().long_link("b").bytes()) ==
        error_prefix() + "archive ends after an extension header, before its entry");
  CHECK(error_of(TarBuilder().pax({{"path", "b"}}).end().bytes()) ==
        error_prefix() + "end-of-archive block right after an extension header");
}

TEST_CASE("an extension header cut short") {
  const Buffer tar = TarBuilder().pax({{"path", std::string(600, 'p')}}).file("a", "1").bytes();
  CHECK(error_of(test::cut(tar, 512 + 100)) == error_prefix() + "archive ends inside a pax header");
  const Buffer gnu = TarBuilder().long_name(std::string(600, 'p')).file("a", "1").bytes();
  CHECK(error_of(test::cut(gnu, 512 + 100)) == error_prefix() + "archive ends inside a GNU long name");
}

TEST_CASE("a pax size past the end of the archive") {
  const Buffer tar = TarBuilder().pax({{"size", "4096"}}).file("f", "hello").bytes();
  CHECK(error_of(tar) == error_prefix() + "f: archive ends inside the entry's data (3584 bytes missing)");
}

TEST_CASE("a pax header larger than the limit is refused before it is read") {
  const Buffer tar = TarBuilder().header(Header{.name = "PaxHeaders/x", .typeflag = 'x', .size = 077777777777}).bytes();
  CHECK(error_of(tar) == error_prefix() + "pax header of 8589934591 bytes exceeds the limit of 16777216 bytes");
}

TEST_CASE("pax global state is bounded: 64 keys, a later value of a key replacing the earlier") {
  TarBuilder replacing;
  for (int i = 0; i < 1000; ++i) replacing.pax_global({{"SCHILY.xattr.user.same", std::to_string(i)}});
  const std::vector<ReadEntry> entries = read_all(replacing.file("f", "x").end().bytes());
  REQUIRE(entries.size() == 1);
  REQUIRE(entries[0].entry.xattrs.size() == 1);
  CHECK(entries[0].entry.xattrs[0].second == "999");

  TarBuilder distinct;
  for (int i = 0; i < 65; ++i) distinct.pax_global({{"SCHILY.xattr.user.k" + std::to_string(i), "v"}});
  CHECK(error_of(distinct.file("f", "x").end().bytes()) ==
        error_prefix() + "pax global headers set more than 64 keys (at offset 65536)");
}

TEST_CASE("pax global state is bounded: 16 KiB of values") {
  const Buffer tar = TarBuilder()
                         .pax_global({{"SCHILY.xattr.user.a", std::string(10000, 'a')}})
                         .pax_global({{"SCHILY.xattr.user.a", std::string(10000, 'b')}})  // replaces: fine
                         .pax_global({{"SCHILY.xattr.user.b", std::string(10000, 'c')}})
                         .file("f", "x")
                         .bytes();
  CHECK(error_of(tar) == error_prefix() + "pax global headers hold more than 16384 bytes of values (at offset 21504)");
}

TEST_CASE("GNU.sparse.* keys in a pax global header are refused") {
  for (const char* key : {"GNU.sparse.map", "GNU.sparse.offset", "GNU.sparse.major", "GNU.sparse.name"}) {
    CAPTURE(key);
    const Buffer tar = TarBuilder().pax_global({{key, "1"}}).file("f", "x").bytes();
    CHECK(error_of(tar) == error_prefix() + "pax global header at offset 0 holds GNU.sparse.* keys, which belong to one file");
  }
}

TEST_CASE("the extension headers before one entry are bounded together") {
  // Two 'x' headers of 9 MiB each: each under the 16 MiB limit, not both.
  const std::string big(9 << 20, 'v');
  const Buffer tar = TarBuilder().pax({{"comment", big}}).pax({{"comment", big}}).file("f", "x").bytes();
  CHECK(error_of(tar) == error_prefix() + "extension headers before one entry exceed the limit of 16777216 bytes");
}

TEST_CASE("at most 128 xattrs for one entry") {
  test::PaxRecords records;
  for (int i = 0; i < 129; ++i) records.emplace_back("SCHILY.xattr.user.k" + std::to_string(i), "v");
  const Buffer tar = TarBuilder().pax(records).file("f", "x").bytes();
  CHECK(error_of(tar) == error_prefix() + "offset 0: malformed pax header: more than 128 xattrs for one entry");
}

TEST_CASE("a malformed pax record names the archive and the header's offset") {
  const Buffer tar = TarBuilder().file("a", "1").pax_raw("99 path=a\n").file("b", "2").bytes();
  CHECK(error_of(tar) == error_prefix() + "offset 1024: malformed pax header: record length 99 is invalid");
}

TEST_CASE("invalid numeric fields") {
  CHECK(error_of(TarBuilder().header(Header{.name = "f", .size = Number::raw("12x")}).bytes()) ==
        error_prefix() + "f: invalid size field at offset 0");
  CHECK(error_of(TarBuilder().header(Header{.name = "f", .size = Number::base256(-1)}).bytes()) ==
        error_prefix() + "f: invalid size field at offset 0");
  CHECK(error_of(TarBuilder().header(Header{.name = "f", .mode = Number::raw("0644z")}).bytes()) ==
        error_prefix() + "f: invalid mode field");
  CHECK(error_of(TarBuilder().header(Header{.name = "f", .uid = Number::raw("9")}).bytes()) ==
        error_prefix() + "f: invalid uid field");
  CHECK(error_of(TarBuilder().header(Header{.name = "f", .mtime = Number::raw("--")}).bytes()) ==
        error_prefix() + "f: invalid mtime field");
  CHECK(error_of(TarBuilder().pax({{"uid", "-1"}}).file("f", "").bytes()) == error_prefix() + "f: owner -1:0 is out of range");
}

TEST_CASE("an entry without a name is an error") {
  CHECK(error_of(TarBuilder().file("", "x").bytes()) == error_prefix() + "entry at offset 0 has an empty name");
}

TEST_CASE("a name with a NUL byte is an error") {
  CHECK(error_of(TarBuilder().pax({{"path", std::string("a\0b", 3)}}).file("f", "").bytes()) ==
        error_prefix() + "a\\x00b: name contains a NUL byte");
  CHECK(error_of(TarBuilder().pax({{"linkpath", std::string("t\0", 2)}}).symlink("l", "t").bytes()) ==
        error_prefix() + "l: name contains a NUL byte");
}

TEST_CASE("a name longer than the limit is an error") {
  CHECK(error_of(TarBuilder().pax({{"path", std::string(64 * 1024 + 1, 'n')}}).file("f", "").bytes()) ==
        error_prefix() + std::string(1024, 'n') + "…(65537 bytes): name is too long");
}

TEST_CASE("an unsupported entry type is an error") {
  CHECK(error_of(TarBuilder().add(Header{.name = "odd", .typeflag = 'Z'}).bytes()) ==
        error_prefix() + "odd: unsupported entry type 'Z'");
  CHECK(error_of(TarBuilder().add(Header{.name = "odd", .typeflag = '\x01'}).bytes()) ==
        error_prefix() + "odd: unsupported entry type '\\x01'");
}

TEST_CASE("error messages start with the archive name, escaped") {
  const Buffer tar = TarBuilder().add(Header{.name = "a", .checksum = test::Checksum::kWrong}).bytes();
  MemorySource source(tar);
  TarReader reader(source, "evil\nname");
  Entry entry;
  CHECK_THROWS_WITH_AS(reader.next(entry), "evil\\x0aname: not a tar archive (header checksum mismatch at offset 0)", FormatError);
}

TEST_CASE("data read in small pieces") {
  std::string data;
  for (int i = 0; i < 1500; ++i) data += static_cast<char>('a' + i % 26);
  const Buffer tar = TarBuilder().file("f", data).file("g", "next").end().bytes();
  MemorySource source(tar);
  TarReader reader(source, kArchive);
  Entry entry;
  REQUIRE(reader.next(entry));
  CHECK(reader.data_offset() == 512);
  CHECK(reader.data_remaining() == 1500);
  CHECK(reader.read_data(0).empty());
  std::string read;
  for (Bytes piece = reader.read_data(7); !piece.empty(); piece = reader.read_data(7)) {
    CHECK(piece.size() <= 7);
    read.append(as_chars(piece));
    CHECK(reader.data_remaining() == 1500 - read.size());
  }
  CHECK(read == data);
  REQUIRE(reader.next(entry));
  CHECK(entry.path == "g");
  CHECK(read_rest(reader) == "next");
  CHECK_FALSE(reader.next(entry));
}

TEST_CASE("next() skips data left unread") {
  const std::string big(5000, 'b');
  const Buffer tar = TarBuilder().file("big", big).file("small", "s").file("last", "L").end().bytes();
  MemorySource source(tar);
  TarReader reader(source, kArchive);
  Entry entry;
  REQUIRE(reader.next(entry));  // big: nothing read
  REQUIRE(reader.next(entry));
  CHECK(entry.path == "small");
  CHECK(reader.data_offset() == 512 + 5120 + 512);
  CHECK(read_rest(reader) == "s");
  REQUIRE(reader.next(entry));
  CHECK(entry.path == "last");
  CHECK(reader.read_data(1).size() == 1);  // partly read, then skipped
  CHECK_FALSE(reader.next(entry));
}

TEST_CASE("a GNU volume label is not an entry") {
  const Buffer tar = TarBuilder().add(Header{.name = "label", .typeflag = 'V', .magic = test::Magic::kGnu})
                         .file("f", "x")
                         .end()
                         .bytes();
  const std::vector<ReadEntry> entries = read_all(tar);
  REQUIRE(entries.size() == 1);
  CHECK(entries[0].entry.path == "f");
}

TEST_SUITE_END();

}  // namespace undocker::tar
