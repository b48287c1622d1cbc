// --all: every image of the archive, each into DIR/NAME/TAG (DIR/ID when
// untagged), from the one mapping of the archive. Names come from the
// archive: each is checked against the reference grammar, and images whose
// directories would nest are refused, before anything is written; below
// DIR, directories are reached from DIR's handle, never through a symlink.
#pragma once

#include <functional>

#include "archive/index.hpp"
#include "cli/options.hpp"
#include "image/image.hpp"
#include "pipeline/directory_output.hpp"

namespace undocker {

/// Extracts every image (one platform each, chosen as for a single image);
/// report gets each image's summary as it is done.
void unpack_all(const cli::Options& options, const archive::MemberIndex& index, const image::ImageArchive& images,
                const std::function<void(const UnpackSummary&)>& report);

}  // namespace undocker
