// Unpacking one selected image into a directory: find the layer blobs,
// verify digests alongside, plan, apply each layer, fix directories up.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "archive/index.hpp"
#include "cli/options.hpp"
#include "fs/output_dir.hpp"
#include "image/select.hpp"

namespace undocker {

class Speculation;

struct UnpackSummary {
  std::string image;   // display name
  std::string id;
  std::string output;  // the directory written
  std::size_t layers = 0;
  std::uint64_t entries = 0;
  std::uint64_t bytes = 0;
  double seconds = 0;
};

/// Applies layer_indices of the selected image into the directory at
/// place. A missing or empty one is built beside it and renamed into place
/// only once complete and verified (fs/output_dir.hpp).
UnpackSummary unpack_image(const cli::Options& options, const archive::MemberIndex& index,
                           const image::SelectedImage& selected, const std::vector<std::size_t>& layer_indices,
                           fs::OutputPlace place);

/// The same, into the staging directory of `guess`, keeping the layers it
/// applied while the archive arrived if they are the image's first ones
/// (pipeline/speculation.hpp).
UnpackSummary unpack_image(const cli::Options& options, const archive::MemberIndex& index,
                           const image::SelectedImage& selected, const std::vector<std::size_t>& layer_indices,
                           Bytes archive, Speculation& guess);

/// File workers that finish files (data, owner, mode, mtime) beside the
/// thread that reads a layer: one per core, at most 4; UNDOCKER_THREADS
/// overrides.
unsigned writer_threads();

}  // namespace undocker
