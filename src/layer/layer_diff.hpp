// What one layer's directory in a layer store must hold so that overlayfs,
// stacking it over the directories of the layers below, shows exactly the
// tree the directory writer makes from those layers: the difference
// between two plans of the final tree (layer/final_tree), the one after
// the layers below and the one after this layer too.
//
// Computed from the merged trees, not from the layer's entries, so that
// every rule of the writer (symlinked parents resolved inside the root,
// implicit parents, opaque directories, whiteouts, directory metadata
// applied last) is the plan's, by construction:
// - a name whose file system object is new, or whose object gained or
//   lost names, is in the layer, with every name of that object in the
//   tree (a hardlink to a lower file copies that file up, so the names
//   stay one inode in the mount);
// - a directory that is new where something stood below, or that replaced
//   another, is opaque, and everything in it is in the layer;
// - a name that existed below and is gone is a whiteout (in a directory
//   that is not opaque: there the directory hides it already);
// - every directory on the way to one of those is in the layer, with the
//   merged tree's metadata (overlayfs shows the upper directory's); so is
//   a directory whose metadata changed, and the root, always.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "layer/final_tree.hpp"

namespace undocker::layer {

struct LayerDirEntry {
  enum class Kind { kNode, kWhiteout };
  std::string path;         // clean, relative; "" for the root
  Kind kind = Kind::kNode;
  std::uint32_t inode = 0;  // a node's inode in the upper tree
  bool opaque = false;      // a directory that hides what lower layers hold at its path
};

/// The entries of the layer directory, parents before their children
/// (whiteouts last). lower is the finished plan of the layers below (an
/// empty FinalTree for the bottom layer), upper the finished plan with
/// this layer applied too; inode ids of one are the other's (upper is
/// lower's copy with one more layer applied).
std::vector<LayerDirEntry> layer_difference(const FinalTree& lower, const FinalTree& upper);

}  // namespace undocker::layer
