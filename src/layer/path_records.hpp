// The records of --cat's header scan (layer/path_plan): every entry of
// every uncompressed layer, as little of it as choosing it again needs,
// read once by every core, and the check that makes choosing exact (every
// entry lands at the path it names).
//
// The scan reads headers with pread where the layer's place in the file is
// known (layer/header_blocks) and plain headers in place (tar/plain_header);
// a layer of piece_bytes or more is cut into pieces, each from a guessed
// header that counts only if the walk before arrives exactly there.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <exception>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "layer/apply.hpp"
#include "util/arena.hpp"
#include "util/bytes.hpp"
#include "util/file_range.hpp"

namespace undocker::layer {

struct PathPlanLayer {
  Bytes stream;      // the layer's uncompressed tar stream (a view of the mapping)
  std::string name;  // the outer member, for messages
  // Where stream lies in the archive's file, when known: its headers are
  // then read with pread rather than through the mapping.
  std::optional<FileRange> file;
};

// FNV-1a, 64 bits: cheap, and a path's prefixes hash on the way.
constexpr std::uint64_t kFnvOffset = 14695981039346656037ULL;
constexpr std::uint64_t fnv_step(std::uint64_t hash, char byte) {
  return (hash ^ static_cast<unsigned char>(byte)) * 1099511628211ULL;
}
inline std::uint64_t fnv(std::string_view text) {
  std::uint64_t hash = kFnvOffset;
  for (char byte : text) hash = fnv_step(hash, byte);
  return hash;
}

// One bit for each of 65,536 hash values: a set of hashes that answers
// "certainly not in it" for most, without a lookup (or the division a hash
// table's bucket takes).
class HashBits {
 public:
  void set(std::uint64_t hash) { words_[(hash >> 6) & kMask] |= std::uint64_t{1} << (hash & 63); }
  bool test(std::uint64_t hash) const { return (words_[(hash >> 6) & kMask] >> (hash & 63)) & 1; }

 private:
  static constexpr std::size_t kWords = 1024;
  static constexpr std::uint64_t kMask = kWords - 1;
  std::array<std::uint64_t, kWords> words_{};
};

enum class RecordKind : std::uint8_t {
  kEntry,     // lands at its path
  kLink,      // a symlink or hardlink: a name that can lead elsewhere
  kWhiteout,  // hides `target` of lower layers
  kOpaque,    // hides what lower layers put in directory `target`
};

// One entry, as little of it as choosing it again needs; its header is read
// again from header_offset if it is chosen. Its strings and hashes live in
// its stretch's arena.
struct Record {
  std::uint64_t header_offset = 0;
  const char* path_data = nullptr;
  const char* target_data = nullptr;  // a hardlink's target, a whiteout's or opaque marker's
  // The FNV-1a hashes of the path's parents ("a", "a/b" for "a/b/c") and
  // of the path itself, last: made by the thread that read the header, so
  // the checks in archive order (one thread) only look them up.
  const std::uint64_t* hashes = nullptr;
  std::uint32_t path_size = 0;
  std::uint32_t target_size = 0;
  std::uint32_t layer = 0;
  std::uint16_t hash_count = 0;
  RecordKind kind = RecordKind::kEntry;
  bool hardlink = false;

  std::string_view path() const { return {path_data, path_size}; }
  std::string_view target() const { return {target_data, target_size}; }
  std::uint64_t path_hash() const { return hashes[hash_count - 1]; }
};

// The records of one stretch of a layer (a whole layer, or a piece of
// one), read on their own. A deque and an arena: neither moves what it
// holds as it grows.
struct Stretch {
  std::deque<Record> records;
  Arena arena;
  bool usable = true;        // false: an entry cannot be chosen on its own
  bool global_header = false;
  std::uint64_t stopped_at = kToTheEnd;  // first header at or past the stop, or kToTheEnd
  std::exception_ptr error;  // a malformed header, when read on another thread
  static constexpr std::uint64_t kToTheEnd = UINT64_MAX;
};

class Records {
 public:
  /// Reads every header of every layer. False when an entry cannot be
  /// chosen on its own (the whole plan will tell what is wrong, if
  /// anything); a malformed header throws, as the whole plan would.
  bool scan(const std::vector<PathPlanLayer>& layers, const ApplyOptions& options, std::size_t piece_bytes);

  /// True when every entry lands at the path it names: no entry's parent
  /// (nor its target's) is a path where a symlink or hardlink entry stands
  /// at that point, and no opaque marker stands in one. (Induction in
  /// archive order: while every entry so far landed where it names, a
  /// symlink can stand only where the last entry naming that path was a
  /// link; a whiteout is not counted as removing it, which only errs on the
  /// side of the whole plan.)
  bool land_where_named() const;

  /// Calls visit(record) for every record, in archive order.
  template <typename Visit>
  void for_each(Visit&& visit) const {
    for (const Stretch& stretch : stretches_) {
      for (const Record& record : stretch.records) visit(record);
    }
  }

  std::size_t size() const;

 private:
  bool append(Stretch&& stretch);

  // A deque: it never moves a stretch; moving one in keeps its records
  // and arena where they are.
  std::deque<Stretch> stretches_;
};

}  // namespace undocker::layer
