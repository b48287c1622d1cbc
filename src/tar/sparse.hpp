// GNU sparse files: the archive stores only the data segments, and a map
// says where each goes in a file of real_size bytes; the rest are holes.
// Three encodings exist: old GNU ('S' entries with the map in the header
// and extension blocks), pax 0.0/0.1 (the map in pax records), and pax 1.0
// (the map in decimal lines at the start of the data).
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "util/bytes.hpp"

namespace undocker::tar {

struct SparseSegment {
  std::uint64_t offset = 0;
  std::uint64_t length = 0;
};

/// A map of segments sorted by offset, non-overlapping, inside real_size.
struct SparseMap {
  std::vector<SparseSegment> segments;
  std::uint64_t real_size = 0;

  /// Bytes the segments hold: what the archive stores.
  std::uint64_t stored_bytes() const;
};

/// Appends the (offset, numbytes) pairs of one old-GNU sparse area (4 in
/// the header, 21 in each extension block): 24-byte octal pairs; an empty
/// offset ends the list. Returns false when a number is malformed.
bool append_gnu_sparse_pairs(const char* area, std::size_t pair_count, std::vector<SparseSegment>& segments);

/// Parses pax 0.1's "GNU.sparse.map" ("off,len,off,len,…").
bool parse_sparse_map_text(std::string_view text, std::vector<SparseSegment>& segments);

/// Checks the invariants above; returns the problem, or "" when valid.
const char* check_sparse_map(const SparseMap& map);

}  // namespace undocker::tar
