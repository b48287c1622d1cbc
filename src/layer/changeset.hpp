// The OCI changeset rules for whiteouts, as pure functions (no syscalls):
// what an entry's name means. Used by the appliers (layer/apply) and the
// planner (layer/plan) alike, so that both read a name the same way.
//
//   DIR/.wh.NAME         deletes NAME from lower layers (a whiteout)
//   DIR/.wh..wh..opq     hides everything lower layers put in DIR (opaque)
//   .wh..wh.* and below  aufs bookkeeping (.wh..wh.plnk, …): not part of the tree
//   DIR/.wh.             a whiteout that names nothing: an error
#pragma once

#include <string>
#include <string_view>

namespace undocker::layer {

inline constexpr std::string_view kWhiteoutPrefix = ".wh.";
inline constexpr std::string_view kOpaqueMarker = ".wh..wh..opq";
inline constexpr std::string_view kWhiteoutMeta = ".wh..wh.";

enum class ChangeKind {
  kEntry,            // an ordinary entry
  kWhiteout,         // target: the path deleted
  kOpaque,           // target: the directory made opaque ("" is the root)
  kMetadata,         // aufs bookkeeping: skipped
  kInvalidWhiteout,  // ".wh." naming nothing, ".", or ".."
};

struct Change {
  ChangeKind kind = ChangeKind::kEntry;
  std::string target;
};

/// What the entry at clean_path means when whiteouts are processed.
Change classify_change(std::string_view clean_path);

}  // namespace undocker::layer
