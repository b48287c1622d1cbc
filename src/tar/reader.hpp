// A tar reader over a ByteSource: ustar, pax ('x', 'g'), GNU long names
// ('L', 'K'), octal and base-256 numbers. It never reads past what the source
// holds, and every malformed header is a FormatError naming the archive and,
// where known, the entry.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "util/byte_source.hpp"
#include "tar/pax.hpp"
#include "tar/sparse.hpp"
#include "util/bytes.hpp"

namespace undocker::tar {

enum class EntryType { kFile, kHardlink, kSymlink, kCharDevice, kBlockDevice, kDirectory, kFifo };

/// The type of an entry whose header's typeflag is '0'-'7' or NUL ('7',
/// contiguous, and NUL read as a file).
EntryType entry_type(char typeflag);

/// Entry types that never have data blocks, whatever their size field
/// says (as Go's archive/tar, and so Docker, reads them): '1'-'6'.
bool is_header_only(char typeflag);

/// One archive entry, with every extension header already applied.
struct Entry {
  std::string path;         // raw name from the archive, not yet cleaned
  std::string link_target;  // raw target of a hardlink or symlink
  EntryType type = EntryType::kFile;
  std::uint32_t mode = 0;   // permission bits including setuid/setgid/sticky
  std::int64_t uid = 0;
  std::int64_t gid = 0;
  Timestamp mtime;
  std::uint64_t size_bytes = 0;  // bytes of data that follow the header
  std::uint32_t dev_major = 0;
  std::uint32_t dev_minor = 0;
  std::vector<std::pair<std::string, std::string>> xattrs;
  std::uint64_t header_offset = 0;  // offset of its first header in the stream
  std::uint64_t data_offset = 0;    // offset of its data in the stream (after a sparse 1.0 map)
  // Set for a GNU sparse file: the data (size_bytes of it) is the
  // segments, in order; the file is sparse->real_size bytes long.
  std::optional<SparseMap> sparse;
};

class TarReader {
 public:
  /// archive_name prefixes every error ("blobs/sha256/ab…: usr/bin/env: …").
  TarReader(ByteSource& source, std::string archive_name);

  /// Reads the next entry, skipping whatever data of the previous one was
  /// not read. Returns false at the end of the archive.
  bool next(Entry& entry);

  /// The next piece (at most max_bytes) of the current entry's data; empty
  /// once all of it was read. Throws FormatError if the stream ends early.
  Bytes read_data(std::size_t max_bytes);

  /// Offset of the current entry's data in the stream.
  std::uint64_t data_offset() const { return data_offset_; }
  std::uint64_t data_remaining() const { return data_remaining_; }
  const std::string& archive_name() const { return archive_name_; }
  /// True once a pax global header ('g') was read: later entries depend on
  /// it, so an entry cannot be read again on its own from its offset.
  bool saw_global_header() const { return saw_global_header_; }
  bool stable_views() const { return source_.stable_views(); }
  /// Keeps the last read_data piece valid after later reads (see
  /// ByteSource::pin_last_read); null when the source cannot.
  std::shared_ptr<const void> pin_last_data() { return source_.pin_last_read(); }
  std::size_t pin_limit_bytes() const { return source_.pin_limit_bytes(); }

 private:
  void skip_rest_of_entry();
  std::string read_body(std::uint64_t size, std::size_t limit, std::string_view what);
  void read_global_header(std::uint64_t size, std::uint64_t header_offset);
  [[noreturn]] void fail(std::string_view problem) const;
  SparseMap read_old_gnu_sparse_map(Bytes header_block);
  SparseMap read_pax_1_0_sparse_map(std::uint64_t real_size);

  ByteSource& source_;
  std::string archive_name_;
  std::string current_name_;   // for messages: the entry being read
  std::uint64_t data_offset_ = 0;
  std::uint64_t data_remaining_ = 0;
  std::uint64_t padding_remaining_ = 0;
  PaxValues global_;  // 'g' headers: apply to every later entry; bounded (util/limits.hpp)
  bool ended_ = false;
  bool saw_global_header_ = false;
};

}  // namespace undocker::tar
