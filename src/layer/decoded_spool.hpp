// A compressed layer, decoded once and kept: while the plan reads the
// layer's headers, every decoded byte is also written to an unlinked
// temporary file, which is then mapped. Outputs that read file data in an
// order other than the layer's own (the tar stream, in tree order) take
// views of that mapping, as they do of an uncompressed layer in the
// archive's. The file lives in $TMPDIR (O_TMPFILE: it never has a name);
// where $TMPDIR cannot hold one, in memory (memfd).
#pragma once

#include <memory>
#include <string>

#include "util/byte_source.hpp"
#include "util/bytes.hpp"

namespace undocker::archive {
class MappedArchive;
}

namespace undocker::layer {

class SpoolingSource final : public ByteSource {
 public:
  /// Passes inner's bytes through, keeping a copy of each. name is for messages.
  SpoolingSource(ByteSource& inner, std::string name);
  ~SpoolingSource() override;

  Bytes read_some(std::size_t max_bytes) override { return kept(inner_.read_some(max_bytes)); }
  Bytes read_exact(std::size_t n) override { return kept(inner_.read_exact(n)); }
  std::uint64_t position() const override { return inner_.position(); }
  bool stable_views() const override { return false; }

  /// Reads what is left of inner, then maps everything read: byte k of the
  /// view is byte k of the decoded stream.
  Bytes finish();

 private:
  Bytes kept(Bytes bytes);
  void flush();

  ByteSource& inner_;
  std::string name_;
  int fd_ = -1;
  std::unique_ptr<char[]> buffer_;
  std::size_t used_ = 0;
  std::unique_ptr<archive::MappedArchive> mapping_;
};

}  // namespace undocker::layer
