// --nspawn: DIR.nspawn beside DIR, from the image config (output/nspawn
// makes the text).
#pragma once

#include <string>

#include "archive/index.hpp"
#include "image/image.hpp"

namespace undocker {

/// Writes LEAF.nspawn in parent_fd, the directory that holds the output
/// directory LEAF (display: its path, for messages), atomically and never
/// through a symlink at that name. Throws NotFoundError when the image has
/// no config in the archive.
void write_nspawn(const archive::MemberIndex& index, const image::Image& image, int parent_fd, const std::string& leaf,
                  const std::string& display);

}  // namespace undocker
