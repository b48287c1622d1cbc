// Writes one layer directory of a layer store (fs/layer_store) from the
// difference layer/layer_diff computed: the form overlayfs reads as a lower
// directory. Whiteouts are 0/0 character devices, opaque directories carry
// the opaque xattr, the names of one file are hardlinks of one inode. The
// directory is fresh and ours (a staging directory): every parent is
// opened from its handle one component at a time with O_NOFOLLOW all the
// same, and every entry is made with *at() calls.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "layer/final_tree.hpp"
#include "layer/layer_diff.hpp"
#include "util/bytes.hpp"

namespace undocker::fs {

struct LayerDirOptions {
  bool set_owner = false;          // root: owners from the plan
  std::string opaque_xattr;        // trusted.overlay.opaque, or user.overlay.opaque
  std::string overlay_prefix;      // xattrs under it would be read by overlayfs: refused
};

/// Writes `entries` (of `tree`) into dir_fd. File data is read from
/// streams[inode.layer], each layer's uncompressed tar stream; members
/// names them in messages. A 0/0 character device or an xattr under
/// overlay_prefix in the image is a FormatError (overlayfs would take it
/// for its own), as is data outside its stream; the file system's refusals
/// are EntryError or IoError.
void write_layer_dir(int dir_fd, const layer::FinalTree& tree, const std::vector<layer::LayerDirEntry>& entries,
                     const std::vector<Bytes>& streams, const std::vector<std::string>& members,
                     const LayerDirOptions& options);

}  // namespace undocker::fs
