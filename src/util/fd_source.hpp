// A ByteSource over a descriptor that cannot be mapped: a pipe, read into
// a buffer of our own (views expire at the next call).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "util/byte_source.hpp"

namespace undocker {

class FdSource final : public ByteSource {
 public:
  /// Reads fd (not owned) to its end. name is for messages.
  FdSource(int fd, std::string name);

  Bytes read_some(std::size_t max_bytes) override;
  Bytes read_exact(std::size_t n) override;
  std::uint64_t position() const override { return position_; }

 private:
  // Reads once into the free space; false at the end of the stream.
  bool fill();
  Bytes take(std::size_t n);

  int fd_;
  std::string name_;
  std::vector<std::uint8_t> buffer_;
  std::size_t begin_ = 0;  // unread bytes: [begin_, end_)
  std::size_t end_ = 0;
  std::uint64_t position_ = 0;
};

}  // namespace undocker
