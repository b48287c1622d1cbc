// --files: the plan of the final tree as a listing, one name a line, in
// the order of the --tar stream (depth first, the names of each directory
// in bytewise order, so parents come before their children), each name as
// the --tar stream would carry it: a file with several names is listed
// under the first, and the others as hardlinks to it.
//
// The text form is GNU tar's `tar -tv --numeric-owner` of that stream,
// column for column: the mode string (type h for a hardlink), UID/GID and
// the size (MAJOR,MINOR for a device) right-aligned in a column that starts
// 19 wide and widens for good when a line needs more, the mtime as
// YYYY-MM-DD HH:MM in UTC (tar uses the local zone: TZ=UTC tar -tv agrees),
// the name (a directory's ends in '/', the root is "./" when a layer
// describes it), then "-> TARGET" or "link to TARGET". Names and targets
// are quoted as GNU tar does in a UTF-8 locale: backslash and control bytes
// escaped (\\, \n, \t, … or \ooo), bytes that are not valid UTF-8 as \ooo.
//
// The JSON form is one object a line: {"path", "type", "mode", "uid",
// "gid", "size", "mtime", "target" (links only), "layer"}, path relative
// without a trailing '/' ("." for the root), type one of file, directory,
// symlink, hardlink, char, block, fifo, mode the permission bits as a
// number, mtime whole seconds since the epoch, layer the 0-based index (as
// --layers shows it) of the layer whose entry provides the name.
#pragma once

#include <cstddef>
#include <cstdio>
#include <vector>

#include "layer/final_tree.hpp"
#include "layer/tree_filter.hpp"

namespace undocker::output {

/// Writes the listing of the names `filter` keeps to `out`. layer_numbers
/// maps the plan's layer positions to the image's layer indices. Throws
/// OutputClosed when the reader goes away, IoError on another write error.
void write_file_list(const layer::FinalTree& tree, const layer::TreeFilter& filter,
                     const std::vector<std::size_t>& layer_numbers, bool json, std::FILE* out);

}  // namespace undocker::output
