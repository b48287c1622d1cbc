// Header blocks read with pread from the archive's file (layer/header_blocks)
// are the bytes of the mapping, wherever the window starts and ends; a file
// that cannot be read falls back to the mapping.
#include <doctest/doctest.h>

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <memory>
#include <random>
#include <vector>

#include "layer/header_blocks.hpp"
#include "tar/header.hpp"
#include "util/byte_source.hpp"

namespace undocker::layer {

namespace {

std::vector<std::uint8_t> random_bytes(std::mt19937& random, std::size_t size) {
  std::vector<std::uint8_t> bytes(size);
  for (std::uint8_t& byte : bytes) byte = static_cast<std::uint8_t>(random());
  return bytes;
}

// An anonymous file holding `stream` at `offset`, as a layer inside an archive.
int file_holding(const std::vector<std::uint8_t>& stream, off_t offset) {
  const int fd = memfd_create("header-blocks", MFD_CLOEXEC);
  REQUIRE(fd >= 0);
  REQUIRE(pwrite(fd, stream.data(), stream.size(), offset) == static_cast<ssize_t>(stream.size()));
  return fd;
}

}  // namespace

TEST_SUITE_BEGIN("layer::header_blocks");

TEST_CASE("blocks read from the file are the stream's bytes") {
  std::mt19937 random(13);
  const std::vector<std::uint8_t> stream = random_bytes(random, 40 * 1024);
  const int fd = file_holding(stream, 777);
  const Bytes view(stream.data(), stream.size());
  for (const std::size_t window :
       {std::size_t{512}, std::size_t{1024}, std::size_t{3000}, HeaderBlocks::kWindowBytes}) {
    HeaderBlocks blocks(view, FileRange{fd, 777}, window);
    std::uint64_t offset = 0;
    for (int step = 0; step < 2000; ++step) {
      // Forward in blocks, as a walk goes, with a jump now and then.
      offset = random() % 5 == 0 ? random() % (stream.size() / tar::kBlockSize) * tar::kBlockSize
                                 : offset + tar::kBlockSize * (random() % 3);
      if (offset + tar::kBlockSize > stream.size()) offset = 0;
      CAPTURE(window);
      CAPTURE(offset);
      const std::uint8_t* block = blocks.block(offset);
      CHECK(block != stream.data() + offset);  // read from the file
      CHECK(std::memcmp(block, stream.data() + offset, tar::kBlockSize) == 0);
    }
    // The last block, where the window is cut short by the end.
    const std::uint64_t last = stream.size() - tar::kBlockSize;
    CHECK(std::memcmp(blocks.block(last), stream.data() + last, tar::kBlockSize) == 0);
  }
  close(fd);
}

TEST_CASE("a file that cannot be read leaves the blocks to the mapping") {
  std::vector<std::uint8_t> stream(4096, 0x5a);
  const int fd = memfd_create("header-blocks-short", MFD_CLOEXEC);
  REQUIRE(fd >= 0);  // and empty: every read comes back short
  HeaderBlocks blocks(Bytes(stream.data(), stream.size()), FileRange{fd, 0});
  CHECK(blocks.block(1024) == stream.data() + 1024);
  close(fd);
  HeaderBlocks closed(Bytes(stream.data(), stream.size()), FileRange{fd, 0});
  CHECK(closed.block(0) == stream.data());
  HeaderBlocks no_file(Bytes(stream.data(), stream.size()), std::nullopt);
  CHECK(no_file.block(512) == stream.data() + 512);
}

TEST_CASE("a header source reads the file as a MemorySource reads the stream") {
  std::mt19937 random(17);
  const std::vector<std::uint8_t> stream = random_bytes(random, 300 * 1024);
  const int fd = file_holding(stream, 4096);
  const Bytes view(stream.data(), stream.size());
  for (int round = 0; round < 50; ++round) {
    const std::uint64_t start = random() % stream.size();
    const std::unique_ptr<ByteSource> from_file = open_header_source(view, FileRange{fd, 4096}, start);
    MemorySource from_memory(view, static_cast<std::size_t>(start));
    for (;;) {
      const std::size_t want = 1 + random() % (random() % 2 ? 600 : 200000);
      const bool exact = random() % 2;
      const Bytes got = exact ? from_file->read_exact(want) : from_file->read_some(want);
      const Bytes expected = exact ? from_memory.read_exact(want) : from_memory.read_some(got.size() ? got.size() : 1);
      REQUIRE(got.size() == expected.size());
      CHECK(std::memcmp(got.data(), expected.data(), got.size()) == 0);
      CHECK(from_file->position() == from_memory.position());
      if (got.empty()) break;
    }
  }
  close(fd);
}

TEST_SUITE_END();

}  // namespace undocker::layer
