// MemberIndex over outer archives built with tar_builder: the offsets and
// sizes it records, names cleaned like any path, the last duplicate
// winning, and find_file following symlink and hardlink members (skopeo
// stores a shared layer once and links the other copies to it).
#include <doctest/doctest.h>

#include <optional>
#include <string>

#include <fmt/format.h>

#include "archive/index.hpp"
#include "support/tar_builder.hpp"
#include "util/error.hpp"

namespace undocker::archive {

namespace {

using test::Buffer;
using test::Header;
using test::TarBuilder;

constexpr char kArchive[] = "image.tar";

std::string data_of(const MemberIndex& index, const Member& member) { return std::string(as_chars(index.data(member))); }

// The contents find_file reaches from `name`, or nullopt.
std::optional<std::string> contents(const MemberIndex& index, std::string_view name) {
  const std::optional<Member> member = index.find_file(name);
  if (!member) return std::nullopt;
  return data_of(index, *member);
}

std::string error_of(const Buffer& tar) {
  try {
    MemberIndex index(tar, kArchive);
  } catch (const FormatError& error) {
    return error.what();
  }
  return "";
}

}  // namespace

TEST_SUITE_BEGIN("archive::index");

TEST_CASE("offsets and sizes of every member") {
  const Buffer tar = TarBuilder()
                         .directory("abc/")
                         .file("abc/layer.tar", std::string(1000, 'L'))
                         .pax({{"path", "manifest.json"}})
                         .file("ignored", "[]")
                         .end()
                         .bytes();
  const MemberIndex index(tar, kArchive);
  REQUIRE(index.members().size() == 3);

  const Member& dir = index.members()[0];
  CHECK(dir.name == "abc");
  CHECK(dir.type == tar::EntryType::kDirectory);
  CHECK(dir.header_offset == 0);
  CHECK(dir.data_offset == 512);
  CHECK(dir.size_bytes == 0);

  const Member& layer = index.members()[1];
  CHECK(layer.name == "abc/layer.tar");
  CHECK(layer.header_offset == 512);
  CHECK(layer.data_offset == 1024);
  CHECK(layer.size_bytes == 1000);
  CHECK(data_of(index, layer) == std::string(1000, 'L'));

  const Member& manifest = index.members()[2];
  CHECK(manifest.name == "manifest.json");
  CHECK(manifest.header_offset == 2048);  // its pax header
  CHECK(manifest.data_offset == 2048 + 512 + 512 + 512);
  CHECK(manifest.size_bytes == 2);
  CHECK(data_of(index, manifest) == "[]");

  CHECK(index.archive_name() == kArchive);
  CHECK(index.contains("abc"));
  CHECK(index.contains("manifest.json"));
  CHECK_FALSE(index.contains("ignored"));
}

TEST_CASE("find_file returns regular files only") {
  const Buffer tar = TarBuilder().directory("dir/").file("dir/f", "data").end().bytes();
  const MemberIndex index(tar, kArchive);
  CHECK(contents(index, "dir/f") == "data");
  CHECK(index.find_file("dir") == std::nullopt);
  CHECK(index.find_file("missing") == std::nullopt);
  CHECK(index.find_file("") == std::nullopt);
}

TEST_CASE("names are cleaned, in the archive and in lookups") {
  const Buffer tar = TarBuilder()
                         .file("./manifest.json", "m")
                         .file("/abs/file", "a")
                         .file(".//dir/./sub//x", "x")
                         .end()
                         .bytes();
  const MemberIndex index(tar, kArchive);
  CHECK(index.members()[0].name == "manifest.json");
  CHECK(index.members()[1].name == "abs/file");
  CHECK(index.members()[2].name == "dir/sub/x");
  CHECK(contents(index, "manifest.json") == "m");
  CHECK(contents(index, "./manifest.json") == "m");
  CHECK(contents(index, "/abs/file") == "a");
  CHECK(contents(index, "dir/sub/../sub/x") == "x");
  CHECK(index.contains("manifest.json"));
  CHECK_FALSE(index.contains("./manifest.json"));  // contains() takes clean names
}

TEST_CASE("the last of duplicate members wins") {
  const Buffer tar = TarBuilder()
                         .file("manifest.json", "old")
                         .file("other", "o")
                         .file("./manifest.json", "new")
                         .end()
                         .bytes();
  const MemberIndex index(tar, kArchive);
  CHECK(index.members().size() == 3);  // every member is kept, in order
  CHECK(contents(index, "manifest.json") == "new");
  CHECK(index.find_file("manifest.json")->header_offset == 2048);
}

TEST_CASE("find_file follows a symlink member relative to its directory") {
  const Buffer tar = TarBuilder()
                         .file("b/layer.tar", "layer bytes")
                         .symlink("a/layer.tar", "../b/layer.tar")
                         .symlink("c/layer.tar", "/b/layer.tar")      // absolute: from the archive's top
                         .symlink("top", "b/layer.tar")               // relative to the top
                         .symlink("d/e/layer.tar", "../../a/layer.tar")  // a chain of two
                         .end()
                         .bytes();
  const MemberIndex index(tar, kArchive);
  CHECK(contents(index, "a/layer.tar") == "layer bytes");
  CHECK(contents(index, "c/layer.tar") == "layer bytes");
  CHECK(contents(index, "top") == "layer bytes");
  CHECK(contents(index, "d/e/layer.tar") == "layer bytes");
  const std::optional<Member> found = index.find_file("a/layer.tar");
  REQUIRE(found);
  CHECK(found->name == "b/layer.tar");  // the member that holds the data
}

TEST_CASE("find_file follows a hardlink member from the archive's top") {
  const Buffer tar = TarBuilder()
                         .file("b/layer.tar", "layer bytes")
                         .hardlink("a/layer.tar", "b/layer.tar")
                         .hardlink("c/layer.tar", "./b/layer.tar")
                         .symlink("d/layer.tar", "../a/layer.tar")  // symlink to hardlink
                         .end()
                         .bytes();
  const MemberIndex index(tar, kArchive);
  CHECK(contents(index, "a/layer.tar") == "layer bytes");
  CHECK(contents(index, "c/layer.tar") == "layer bytes");
  CHECK(contents(index, "d/layer.tar") == "layer bytes");
}

TEST_CASE("find_file: loops, dangling links and links out of the archive give nullopt") {
  const Buffer tar = TarBuilder()
                         .symlink("self", "self")
                         .symlink("x", "y")
                         .symlink("y", "x")
                         .hardlink("h1", "h2")
                         .hardlink("h2", "h1")
                         .symlink("dangling", "nowhere")
                         .symlink("out", "../../etc/passwd")
                         .hardlink("hard-out", "../etc/passwd")
                         .directory("dir/")
                         .symlink("to-dir", "dir")
                         .end()
                         .bytes();
  const MemberIndex index(tar, kArchive);
  for (const char* name : {"self", "x", "y", "h1", "h2", "dangling", "out", "hard-out", "to-dir"}) {
    CAPTURE(name);
    CHECK(index.find_file(name) == std::nullopt);
  }
}

TEST_CASE("find_file follows at most 40 symlinks") {
  TarBuilder builder;
  builder.file("l0", "end");
  for (int i = 1; i <= 45; ++i) builder.symlink(fmt::format("l{}", i), fmt::format("l{}", i - 1));
  const MemberIndex index(builder.end().bytes(), kArchive);
  // As the kernel (and RootDir's walk): 40 symlinks may be followed, not 41.
  CHECK(contents(index, "l39") == "end");
  CHECK(contents(index, "l40") == "end");
  CHECK(index.find_file("l41") == std::nullopt);
  CHECK(index.find_file("l45") == std::nullopt);
}

TEST_CASE("a member name climbing out with '..' is an error") {
  CHECK(error_of(TarBuilder().file("../evil", "x").end().bytes()) ==
        "image.tar: ../evil: member name climbs out of the archive with '..'");
}

TEST_CASE("a member whose size runs past the end is an error") {
  const Buffer tar = TarBuilder().add(Header{.name = "layer.tar", .size = 4096}, "short").bytes();
  CHECK(error_of(tar) == "image.tar: layer.tar: size 4096 runs past the end of the archive");
}

TEST_CASE("reader errors surface with the archive's name") {
  const Buffer tar = TarBuilder().add(Header{.name = "a", .checksum = test::Checksum::kWrong}).bytes();
  CHECK(error_of(tar) == "image.tar: not a tar archive (header checksum mismatch at offset 0)");
}

TEST_CASE("an empty archive has no members") {
  CHECK(MemberIndex(Buffer{}, kArchive).members().empty());
  CHECK(MemberIndex(TarBuilder().end().bytes(), kArchive).members().empty());
}

TEST_SUITE_END();

}  // namespace undocker::archive
