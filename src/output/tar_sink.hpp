// --tar: the plan of the final tree as one POSIX pax tar stream, with file
// data read again from the layers (views of the mapped archive, or the
// decoder's chunks of a compressed layer), never from a disk.
//
// The order is the tree's, fixed so that the same archive gives the same
// bytes on every run, as root or not, from compressed layers or not: the
// root as "./" when a layer describes it, then depth first, the children
// of each directory in bytewise order, so that parents come before their
// children and each directory's subtree is contiguous (GNU tar restores a
// directory's mtime once the stream has left it). A file with several
// names comes under the first in that order; the others are hardlinks to
// it. Names are relative with no "./", a directory's ends in "/". Owners,
// modes (setuid, setgid, sticky too), mtimes, device numbers, link targets
// and xattrs (SCHILY.xattr.*, sorted by name) come from the layer headers;
// a sparse file is written whole, its holes as zeros.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "layer/final_tree.hpp"
#include "layer/tree_filter.hpp"
#include "util/bytes.hpp"

namespace undocker::output {

/// One selected layer as the tree was planned from it: its tar stream,
/// uncompressed (a view of the mapped archive, or of the decoded copy of a
/// compressed layer; see layer/decoded_spool).
struct TarSinkLayer {
  Bytes stream;
  std::string member;  // its name, for messages
};

/// Writes `tree` to out_fd. before_end runs before the two zero blocks that
/// end the archive: a failure it throws (a digest mismatch found at the
/// end) leaves the stream without its end, so that no reader takes it for
/// whole. Throws OutputClosed when the reader goes away. Only the names
/// `filter` keeps are written (--path, --exclude); a file whose other
/// names are left out is written whole under the first name kept.
void write_tree_tar(const layer::FinalTree& tree, const std::vector<TarSinkLayer>& layers, int out_fd,
                    const std::function<void()>& before_end, const layer::TreeFilter& filter = {});

}  // namespace undocker::output
