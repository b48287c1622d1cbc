// The quick read of a plain header (tar/plain_header) against TarReader:
// wherever it reads a header, TarReader, started at the same place, reads
// the same entry (path, type, link target) and goes on at the same next
// header; on random layers, cut, with bytes flipped, and on the header
// variants it must leave to TarReader.
#include <doctest/doctest.h>

#include <cstdint>
#include <cstring>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "support/random_layers.hpp"
#include "support/tar_builder.hpp"
#include "tar/header.hpp"
#include "tar/plain_header.hpp"
#include "tar/reader.hpp"
#include "util/byte_source.hpp"
#include "util/error.hpp"

namespace undocker::tar {

namespace {

using test::Buffer;
using test::Header;
using test::TarBuilder;

struct Seen {
  std::uint64_t header_offset;
  std::string path;
  EntryType type;
  std::string link_target;
};

// Every entry TarReader reads from the start, until the end or its first error.
std::vector<Seen> read_all(const Buffer& bytes) {
  std::vector<Seen> seen;
  MemorySource source(Bytes(bytes.data(), bytes.size()));
  TarReader reader(source, "layer");
  Entry entry;
  try {
    while (reader.next(entry)) seen.push_back({entry.header_offset, entry.path, entry.type, entry.link_target});
  } catch (const FormatError&) {
  }
  return seen;
}

void fix_checksum(Buffer& bytes, std::uint64_t header) {
  std::uint64_t sum = 0;
  for (std::size_t i = 0; i < kBlockSize; ++i) {
    sum += (i >= 148 && i < 156) ? ' ' : bytes[header + i];
  }
  const std::string field = fmt::format("{:06o}", sum);
  std::memcpy(bytes.data() + header + 148, field.data(), 6);
  bytes[header + 154] = '\0';
  bytes[header + 155] = ' ';
}

std::optional<PlainHeader> plain_at(const Buffer& bytes, std::uint64_t offset) {
  if (offset > bytes.size() || bytes.size() - offset < kBlockSize) return std::nullopt;
  PlainHeader plain;
  if (!read_plain_header(bytes.data() + offset, bytes.size() - offset - kBlockSize, plain)) return std::nullopt;
  return plain;
}

std::string path_of(const PlainHeader& plain) {
  return plain.prefix.empty() ? std::string(plain.name) : std::string(plain.prefix) + "/" + std::string(plain.name);
}

// Walks plain headers from the start; each must be the entry TarReader
// read there. Returns how many were read.
std::size_t check_plain_walk(const Buffer& bytes) {
  const std::vector<Seen> seen = read_all(bytes);
  std::uint64_t at = 0;
  std::size_t count = 0;
  while (const std::optional<PlainHeader> plain = plain_at(bytes, at)) {
    CAPTURE(at);
    REQUIRE(count < seen.size());
    CHECK(seen[count].header_offset == at);
    CHECK(seen[count].path == path_of(*plain));
    CHECK(seen[count].type == plain->type);
    CHECK(seen[count].link_target == plain->link_target);
    at += plain->entry_bytes;
    ++count;
  }
  // Where it stops short of TarReader's next entry, that entry had an
  // extension header, or the walk is at the end.
  if (count < seen.size()) CHECK(seen[count].header_offset == at);
  return count;
}

}  // namespace

TEST_SUITE_BEGIN("tar::plain_header");

TEST_CASE("plain headers read as TarReader reads them, on random layers cut and with bytes flipped") {
  std::mt19937 random(7);
  std::size_t plain_headers = 0;
  for (int round = 0; round < 3000; ++round) {
    CAPTURE(round);
    for (const TarBuilder& layer : test::random_layers(random)) {
      Buffer bytes = layer.bytes();
      const unsigned change = random() % 4;
      if (change == 1 && !bytes.empty()) bytes.resize(random() % bytes.size());
      if (change == 2 && !bytes.empty()) {
        for (int flips = 0; flips < 3; ++flips) {
          bytes[random() % bytes.size()] ^= static_cast<std::uint8_t>(1 + random() % 255);
        }
      }
      const std::vector<Seen> seen = read_all(bytes);
      if (change == 3 && !seen.empty()) {
        // A byte of a header's fields, where parsing decides, with the
        // checksum made right again.
        const std::uint64_t header = seen[random() % seen.size()].header_offset;
        for (int bytes_changed = 0; bytes_changed < 2; ++bytes_changed) {
          const std::size_t field = random() % 2 ? 100 + random() % 57 : random() % 345;
          bytes[header + field] = static_cast<std::uint8_t>("0789 /\x80\xff\0xgLS"[random() % 13]);
        }
        fix_checksum(bytes, header);
      }
      plain_headers += check_plain_walk(bytes);
    }
  }
  CHECK(plain_headers > 20000);  // the walk had something to compare
}

TEST_CASE("the variants of a plain header") {
  TarBuilder layer;
  layer.add(Header{.name = "name", .prefix = "some/prefix", .typeflag = '0'}, "x")
      .add(Header{.name = "gnu", .prefix = "ignored", .typeflag = '0', .magic = test::Magic::kGnu}, "y")
      .add(Header{.name = "v7", .typeflag = '\0', .magic = test::Magic::kNone}, "z")
      .add(Header{.name = "signed\xe9", .typeflag = '0', .checksum = test::Checksum::kSigned}, "")
      .add(Header{.name = "link", .linkname = "name", .typeflag = '1', .size = test::Number(4096)})
      .add(Header{.name = "dev", .typeflag = '3', .devmajor = test::Number(1), .devminor = test::Number(3)})
      .end();
  CHECK(check_plain_walk(layer.bytes()) == 6);
  const std::optional<PlainHeader> first = plain_at(layer.bytes(), 0);
  REQUIRE(first);
  CHECK(path_of(*first) == "some/prefix/name");
  CHECK(first->entry_bytes == 1024);
  const std::optional<PlainHeader> link = plain_at(layer.bytes(), 3 * 1024 + 512);
  REQUIRE(link);
  CHECK(link->entry_bytes == 512);  // a hardlink has no data, whatever its size field says
}

TEST_CASE("what only TarReader reads is left to it") {
  // An extension header, a GNU long name, a global header, a sparse file,
  // an unknown type, a wrong checksum, an end block, an unpadded last entry.
  const auto first_is_plain = [](const TarBuilder& layer) { return plain_at(layer.bytes(), 0).has_value(); };
  CHECK_FALSE(first_is_plain(TarBuilder().pax({{"path", "long"}}).file("short", "x").end()));
  CHECK_FALSE(first_is_plain(TarBuilder().long_name("a/long/name").file("short", "x").end()));
  CHECK_FALSE(first_is_plain(TarBuilder().pax_global({{"uid", "1"}}).file("a", "x").end()));
  CHECK_FALSE(first_is_plain(TarBuilder().add(Header{.name = "s", .typeflag = 'S'}).end()));
  CHECK_FALSE(first_is_plain(TarBuilder().add(Header{.name = "q", .typeflag = 'Q'}).end()));
  CHECK_FALSE(first_is_plain(TarBuilder().add(Header{.name = "c", .checksum = test::Checksum::kWrong}).end()));
  CHECK_FALSE(first_is_plain(TarBuilder().end()));
  CHECK_FALSE(first_is_plain(TarBuilder().add(Header{.name = "", .typeflag = '0'}).end()));
  TarBuilder unpadded;
  unpadded.header(Header{.name = "f", .size = test::Number(10)}).raw("0123456789");
  CHECK_FALSE(first_is_plain(unpadded));
  CHECK(read_all(unpadded.bytes()).size() == 1);  // which TarReader takes as the last entry
}

TEST_SUITE_END();

}  // namespace undocker::tar
