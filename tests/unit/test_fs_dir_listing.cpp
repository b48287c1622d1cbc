// open_listing: a listing of its own, whatever was read through the
// descriptor it was made from.
#include <doctest/doctest.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <fstream>
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

TEST_SUITE_END();

}  // namespace undocker::fs
