// write_tree_as_tar over a small tree holding every kind of entry, read
// back with our own TarReader and with GNU tar.
#include <doctest/doctest.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "fs/fd.hpp"
#include "layer/byte_source.hpp"
#include "output/tar_writer.hpp"
#include "tar/reader.hpp"
#include "util/error.hpp"

namespace undocker::output {

namespace {

/// A scratch directory, removed at the end of the test case.
class ScratchDir {
 public:
  ScratchDir() {
    const char* tmpdir = std::getenv("TMPDIR");
    std::string pattern = std::string(tmpdir != nullptr && *tmpdir != '\0' ? tmpdir : "/tmp") + "/tar-writer-XXXXXX";
    REQUIRE(::mkdtemp(pattern.data()) != nullptr);
    path_ = pattern;
  }
  ~ScratchDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

void write_file(const std::string& path, const std::string& content, mode_t mode) {
  fs::Fd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  REQUIRE(fd.valid());
  REQUIRE(::write(fd.get(), content.data(), content.size()) == static_cast<ssize_t>(content.size()));
  REQUIRE(::fchmod(fd.get(), mode) == 0);
}

void set_mtime(const std::string& path, std::int64_t seconds, long nanoseconds) {
  const timespec times[2] = {{seconds, nanoseconds}, {seconds, nanoseconds}};
  REQUIRE(::utimensat(AT_FDCWD, path.c_str(), times, AT_SYMLINK_NOFOLLOW) == 0);
}

std::string read_all(int fd) {
  std::string data;
  std::array<char, 65536> buffer{};
  off_t offset = 0;
  for (;;) {
    const ssize_t count = ::pread(fd, buffer.data(), buffer.size(), offset);
    REQUIRE(count >= 0);
    if (count == 0) return data;
    data.append(buffer.data(), static_cast<std::size_t>(count));
    offset += count;
  }
}

/// Writes the tree under root as a tar into a file opened with extra_flags.
std::string tar_of(const std::string& root, const std::string& out_path, int extra_flags = 0) {
  fs::Fd dir(::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  REQUIRE(dir.valid());
  fs::Fd out(::open(out_path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC | extra_flags, 0644));
  REQUIRE(out.valid());
  write_tree_as_tar(dir.get(), out.get());
  return read_all(out.get());
}

struct ReadEntry {
  tar::Entry entry;
  std::string data;
};

std::vector<ReadEntry> read_tar(const std::string& stream) {
  layer::MemorySource source(as_bytes(stream));
  tar::TarReader reader(source, "test.tar");
  std::vector<ReadEntry> entries;
  tar::Entry entry;
  while (reader.next(entry)) {
    ReadEntry read{entry, {}};
    for (Bytes piece = reader.read_data(1 << 20); !piece.empty(); piece = reader.read_data(1 << 20)) {
      read.data.append(as_chars(piece));
    }
    entries.push_back(std::move(read));
  }
  return entries;
}

std::string run(const std::string& command, int& status) {
  std::string output;
  FILE* pipe = ::popen(command.c_str(), "r");
  REQUIRE(pipe != nullptr);
  std::array<char, 4096> buffer{};
  for (std::size_t count; (count = std::fread(buffer.data(), 1, buffer.size(), pipe)) > 0;) {
    output.append(buffer.data(), count);
  }
  status = ::pclose(pipe);
  return output;
}

}  // namespace

TEST_CASE("output::write_tree_as_tar writes every kind of entry, sorted, readable back") {
  ScratchDir scratch;
  const std::string tree = scratch / "tree";
  REQUIRE(::mkdir(tree.c_str(), 0755) == 0);
  const std::string long_name(200, 'n');
  const std::string long_target = std::string(150, 't');
  std::string big(300 * 1024, '\0');  // past the sendfile threshold
  for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>('a' + i % 23);

  REQUIRE(::mkdir((tree + "/a").c_str(), 0750) == 0);
  write_file(tree + "/a/file.txt", "hello\n", 0640);
  REQUIRE(::link((tree + "/a/file.txt").c_str(), (tree + "/a/hardlink").c_str()) == 0);
  REQUIRE(::symlink("file.txt", (tree + "/a/link").c_str()) == 0);
  REQUIRE(::mkdir((tree + "/d").c_str(), 0755) == 0);
  write_file(tree + "/d/" + long_name, big, 0644);
  REQUIRE(::mkdir((tree + "/empty").c_str(), 01777) == 0);
  REQUIRE(::chmod((tree + "/empty").c_str(), 01777) == 0);  // past the umask
  REQUIRE(::mkfifo((tree + "/fifo").c_str(), 0600) == 0);
  REQUIRE(::symlink(long_target.c_str(), (tree + "/longlink").c_str()) == 0);
  write_file(tree + "/suid", "#!/bin/sh\n", 04755);
  write_file(tree + "/B", "", 0600);  // uppercase sorts before lowercase
  const bool have_xattr = ::setxattr((tree + "/suid").c_str(), "user.test", "value", 5, 0) == 0;
  const bool have_device = ::mknod((tree + "/null").c_str(), S_IFCHR | 0666, ::makedev(1, 3)) == 0;
  const bool have_big_uid = ::lchown((tree + "/B").c_str(), 70000000, 70000001) == 0;
  set_mtime(tree + "/a/file.txt", 1700000000, 123456789);
  set_mtime(tree + "/suid", 1600000000, 0);
  set_mtime(tree + "/a", 1650000000, 5);
  if (!have_xattr) MESSAGE("no user xattrs on this filesystem: not checked");
  if (!have_device) MESSAGE("cannot make device nodes: not checked");

  const std::string stream = tar_of(tree, scratch / "out.tar");
  REQUIRE(stream.size() % 512 == 0);
  CHECK(stream.substr(stream.size() - 1024) == std::string(1024, '\0'));
  // Written through a buffer only (sendfile refuses O_APPEND): the same bytes.
  CHECK(tar_of(tree, scratch / "append.tar", O_APPEND) == stream);

  const std::vector<ReadEntry> entries = read_tar(stream);
  std::vector<std::string> names;
  std::map<std::string, const ReadEntry*> by_name;
  for (const ReadEntry& read : entries) {
    names.push_back(read.entry.path);
    by_name[read.entry.path] = &read;
  }
  std::vector<std::string> expected = {"B", "a/", "a/file.txt", "a/hardlink", "a/link", "d/", "d/" + long_name,
                                       "empty/", "fifo", "longlink"};
  if (have_device) expected.push_back("null");
  expected.push_back("suid");
  CHECK(names == expected);

  const tar::Entry& dir = by_name.at("a/")->entry;
  CHECK(dir.type == tar::EntryType::kDirectory);
  CHECK(dir.mode == 0750);
  CHECK(dir.mtime.seconds == 1650000000);
  CHECK(dir.mtime.nanoseconds == 5);

  const ReadEntry& file = *by_name.at("a/file.txt");
  CHECK(file.entry.type == tar::EntryType::kFile);
  CHECK(file.entry.mode == 0640);
  CHECK(file.entry.size_bytes == 6);
  CHECK(file.data == "hello\n");
  CHECK(file.entry.mtime.seconds == 1700000000);
  CHECK(file.entry.mtime.nanoseconds == 123456789);
  CHECK(file.entry.uid == ::getuid());

  const tar::Entry& hardlink = by_name.at("a/hardlink")->entry;
  CHECK(hardlink.type == tar::EntryType::kHardlink);
  CHECK(hardlink.link_target == "a/file.txt");
  CHECK(hardlink.size_bytes == 0);

  const tar::Entry& symlink = by_name.at("a/link")->entry;
  CHECK(symlink.type == tar::EntryType::kSymlink);
  CHECK(symlink.link_target == "file.txt");
  CHECK(by_name.at("longlink")->entry.link_target == long_target);

  const ReadEntry& long_file = *by_name.at("d/" + long_name);
  CHECK(long_file.entry.size_bytes == big.size());
  CHECK(long_file.data == big);

  CHECK(by_name.at("empty/")->entry.mode == 01777);
  CHECK(by_name.at("fifo")->entry.type == tar::EntryType::kFifo);
  CHECK(by_name.at("fifo")->entry.mode == 0600);
  CHECK(by_name.at("B")->entry.size_bytes == 0);
  if (have_big_uid) {
    CHECK(by_name.at("B")->entry.uid == 70000000);
    CHECK(by_name.at("B")->entry.gid == 70000001);
  }

  const ReadEntry& suid = *by_name.at("suid");
  CHECK(suid.entry.mode == 04755);
  CHECK(suid.data == "#!/bin/sh\n");
  CHECK(suid.entry.mtime.seconds == 1600000000);
  CHECK(suid.entry.mtime.nanoseconds == 0);
  if (have_xattr) {
    CHECK(suid.entry.xattrs == std::vector<std::pair<std::string, std::string>>{{"user.test", "value"}});
  }
  if (have_device) {
    const tar::Entry& null = by_name.at("null")->entry;
    CHECK(null.type == tar::EntryType::kCharDevice);
    CHECK(null.dev_major == 1);
    CHECK(null.dev_minor == 3);
  }

  // GNU tar lists the same members, in the same order, with the same links.
  int status = 0;
  const std::string listing = run("tar -tf '" + scratch / "out.tar" + "' 2>&1", status);
  CHECK(status == 0);
  std::string expected_listing;
  for (const std::string& name : expected) expected_listing += name + "\n";
  CHECK(listing == expected_listing);
  const std::string verbose = run("tar --numeric-owner -tvf '" + scratch / "out.tar" + "' 2>&1", status);
  CHECK(status == 0);
  CHECK(verbose.find("a/hardlink link to a/file.txt") != std::string::npos);
  CHECK(verbose.find("a/link -> file.txt") != std::string::npos);
  CHECK(verbose.find("-rwsr-xr-x") != std::string::npos);
  CHECK(verbose.find("drwxrwxrwt") != std::string::npos);
  CHECK(verbose.find("prw-------") != std::string::npos);
}

TEST_CASE("output::write_tree_as_tar of an empty directory is two zero blocks") {
  ScratchDir scratch;
  REQUIRE(::mkdir((scratch / "tree").c_str(), 0755) == 0);
  CHECK(tar_of(scratch / "tree", scratch / "out.tar") == std::string(1024, '\0'));
}

TEST_CASE("output::write_tree_as_tar descends deeper than it keeps directories open") {
  ScratchDir scratch;
  std::string path = scratch / "tree";
  REQUIRE(::mkdir(path.c_str(), 0755) == 0);
  std::string expected_last;
  for (int depth = 0; depth < 150; ++depth) {
    path += "/d";
    expected_last += "d/";
    REQUIRE(::mkdir(path.c_str(), 0755) == 0);
  }
  write_file(scratch / "tree/z", "end", 0644);  // reached after climbing back
  const std::vector<ReadEntry> entries = read_tar(tar_of(scratch / "tree", scratch / "out.tar"));
  REQUIRE(entries.size() == 151);
  CHECK(entries[149].entry.path == expected_last);
  CHECK(entries[150].entry.path == "z");
  CHECK(entries[150].data == "end");
}

TEST_CASE("output::write_tree_as_tar names the last entry on a write error") {
  ScratchDir scratch;
  REQUIRE(::mkdir((scratch / "tree").c_str(), 0755) == 0);
  write_file(scratch / "tree/file", "data", 0644);
  write_file(scratch / "read-only", "", 0644);
  fs::Fd dir(::open((scratch / "tree").c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  fs::Fd read_only(::open((scratch / "read-only").c_str(), O_RDONLY | O_CLOEXEC));
  CHECK_THROWS_WITH_AS(write_tree_as_tar(dir.get(), read_only.get()),
                       "file: cannot write the tar stream: Bad file descriptor", IoError);
}

TEST_CASE("output::write_tree_as_tar leaves out the archive it writes inside the tree") {
  ScratchDir scratch;
  REQUIRE(::mkdir((scratch / "tree").c_str(), 0755) == 0);
  write_file(scratch / "tree/file", "data", 0644);
  const std::vector<ReadEntry> entries = read_tar(tar_of(scratch / "tree", scratch / "tree/out.tar"));
  REQUIRE(entries.size() == 1);
  CHECK(entries[0].entry.path == "file");
}

}  // namespace undocker::output
