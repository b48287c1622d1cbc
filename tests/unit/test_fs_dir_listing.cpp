// open_listing and list_names: a listing of its own, whatever was read
// through the descriptor it was made from.
#include <doctest/doctest.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "fs/dir_listing.hpp"
#include "support/scoped_temp_dir.hpp"

namespace undocker::fs {

namespace {

std::vector<std::string> names_in(DIR* listing) {
  std::vector<std::string> names;
  while (dirent* item = readdir(listing)) {
    const std::string name = item->d_name;
    if (name != "." && name != "..") names.push_back(name);
  }
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace

TEST_SUITE_BEGIN("fs::dir_listing");

TEST_CASE("open_listing lists from the first entry after dir_fd was read to its end") {
  test::ScopedTempDir temp;
  REQUIRE(mkdir((temp.path() + "/sub").c_str(), 0755) == 0);
  std::ofstream(temp.path() + "/file") << "x";
  const int fd = open(temp.path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  REQUIRE(fd >= 0);
  {
    // What RootDir once did to see whether a directory was empty: a duplicate
    // shares the position, so dir_fd itself is now at the end.
    DIR* reader = fdopendir(fcntl(fd, F_DUPFD_CLOEXEC, 0));
    REQUIRE(reader != nullptr);
    CHECK(names_in(reader) == std::vector<std::string>{"file", "sub"});
    closedir(reader);
  }
  for (int round = 0; round < 2; ++round) {
    const DirListing listing = open_listing(fd);
    REQUIRE(listing);
    CHECK(names_in(listing.get()) == std::vector<std::string>{"file", "sub"});
  }
  close(fd);
}

TEST_CASE("open_listing of a file's descriptor is null with errno ENOTDIR") {
  test::ScopedTempDir temp;
  std::ofstream(temp.path() + "/file") << "x";
  const int fd = open((temp.path() + "/file").c_str(), O_RDONLY | O_CLOEXEC);
  REQUIRE(fd >= 0);
  errno = 0;
  const DirListing listing = open_listing(fd);
  CHECK_FALSE(listing);
  CHECK(errno == ENOTDIR);
  close(fd);
}

TEST_CASE("list_names: every name but . and .., after dir_fd was read to its end") {
  test::ScopedTempDir temp;
  REQUIRE(mkdir((temp.path() + "/sub").c_str(), 0755) == 0);
  std::ofstream(temp.path() + "/file") << "x";
  std::ofstream(temp.path() + "/.hidden") << "x";
  const int fd = open(temp.path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  REQUIRE(fd >= 0);
  DIR* reader = fdopendir(fcntl(fd, F_DUPFD_CLOEXEC, 0));
  REQUIRE(reader != nullptr);
  names_in(reader);  // fd is at the end now
  closedir(reader);
  std::optional<std::vector<std::string>> names = list_names(fd);
  REQUIRE(names);
  std::sort(names->begin(), names->end());
  CHECK(*names == std::vector<std::string>{".hidden", "file", "sub"});
  close(fd);
}

TEST_CASE("list_names of an empty directory is empty; of a file, nullopt with errno ENOTDIR") {
  test::ScopedTempDir temp;
  const int dir_fd = open(temp.path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  REQUIRE(dir_fd >= 0);
  const std::optional<std::vector<std::string>> none = list_names(dir_fd);
  REQUIRE(none);
  CHECK(none->empty());
  close(dir_fd);
  std::ofstream(temp.path() + "/file") << "x";
  const int file_fd = open((temp.path() + "/file").c_str(), O_RDONLY | O_CLOEXEC);
  REQUIRE(file_fd >= 0);
  errno = 0;
  CHECK_FALSE(list_names(file_fd));
  CHECK(errno == ENOTDIR);
  close(file_fd);
}

TEST_SUITE_END();

}  // namespace undocker::fs
