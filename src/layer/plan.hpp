// Deciding, before anything is written, which entries an upper layer will
// replace or delete anyway, so that their data is never written (the bulk
// of the work for images whose later layers overwrite or clean up).
//
// The rules are lexical, so they only mark a regular file dead when lexical
// and physical paths must agree and making it could not have failed: every
// ancestor is a directory in every layer (no symlink, no file in the way),
// no hardlink points at it, and the output directory started empty.
// Under those conditions a later entry at the same path, a later whiteout
// of it or of an ancestor, a later opaque ancestor directory, or a later
// non-directory at an ancestor removes it, exactly as applying the layers
// in order would. Its parent directories are still made (a later whiteout
// of the file alone leaves them behind).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "util/bytes.hpp"

namespace undocker::layer {

struct LayerPlan {
  std::vector<bool> skip;  // by entry ordinal in the layer's tar stream
  std::uint64_t skipped_entries = 0;
  std::uint64_t skipped_bytes = 0;
};

/// Plans uncompressed layers (bottom first). `whiteouts` is false under -W.
/// Callers must not plan when an entry may fail and be skipped (-i), since
/// an upper entry that is never made removes nothing.
/// Returns an empty vector when planning does not apply (a hardlink whose
/// target path runs through a symlink). Throws FormatError like the
/// reader would on a malformed layer.
std::vector<LayerPlan> plan_layers(const std::vector<Bytes>& layers, const std::vector<std::string>& layer_names,
                                   bool whiteouts);

}  // namespace undocker::layer
