// The plan of one path: the final tree as far as one lookup depends on it,
// for --cat. The whole plan (layer/final_tree fed every entry) costs a
// tree node for each of an image's entries; one file needs only the entries
// at the paths its lookup walks through (the parents, symlinks and their
// targets, hardlink targets) and the whiteouts of those paths.
//
// Every header is still read and checked once, into a compact record
// (layer/path_records, which also makes the check of exactness). Then
// the plan is made of the records whose path the lookup touches, applied by
// the same rules (layer/apply's EntryApplier) into a FinalTree; the lookup
// runs on it and names the paths it probed; if it probed a path that was not
// yet part of the plan, the plan is made again with it, until the lookup
// touches nothing new.
//
// That is exact only when every entry lands at the path it names, which
// holds when no entry's parent path (nor a hardlink target's) is the name of
// a symlink or hardlink entry: then no path can lead through a symlink made
// by the archive. Where that fails, or where a pax global header makes an
// entry depend on those before it, no plan is made and the caller plans the
// whole tree.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "layer/apply.hpp"
#include "layer/final_tree.hpp"
#include "layer/path_records.hpp"

namespace undocker::layer {

/// Layers of at least this many bytes have their headers read in pieces
/// of about this size, by as many threads as there are cores (up to 4).
/// 64 MiB: about 15 pieces in the 2 GB bench image once the cuts with no
/// header near them are dropped, so that no thread waits long for another;
/// 32 and 128 MiB measured no better.
inline constexpr std::size_t kPieceBytes = std::size_t{64} << 20;

/// The plan of what looking up raw_path (every symlink followed) depends
/// on, or nullptr when these layers need the whole plan (see above). A
/// malformed header throws, as the whole plan would.
std::unique_ptr<FinalTree> plan_for_path(const std::vector<PathPlanLayer>& layers, std::string_view raw_path,
                                         const ApplyOptions& options, std::size_t piece_bytes = kPieceBytes);

}  // namespace undocker::layer
