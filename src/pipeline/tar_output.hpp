// --tar: the selected image as one tar stream, planned in memory and read
// from the mapped layers; nothing is staged on disk.
#pragma once

#include <vector>

#include "archive/index.hpp"
#include "cli/options.hpp"
#include "image/select.hpp"
#include "pipeline/directory_output.hpp"

namespace undocker {

/// Plans the final tree of layer_indices and writes it to options.tar_output
/// ("-": standard output). A FILE that is missing or regular is written
/// under a temporary sibling name and renamed into place once the stream is
/// complete and verified; a FIFO or device is written as it is.
UnpackSummary stream_image_as_tar(const cli::Options& options, const archive::MemberIndex& index,
                                  const image::SelectedImage& selected, const std::vector<std::size_t>& layer_indices);

}  // namespace undocker
