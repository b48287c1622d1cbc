// --files and --cat: the selected image's final tree answered from the
// plan, without extracting. Only the manifest and config digests are
// checked unless options.verify (--verify): then every selected layer is
// hashed before anything is printed.
#pragma once

#include <cstddef>
#include <vector>

#include "archive/index.hpp"
#include "cli/options.hpp"
#include "image/select.hpp"

namespace undocker {

/// --files: the final tree after -l, --path and --exclude, on stdout
/// (output/file_list.hpp). Reads layer headers only.
void list_files(const cli::Options& options, const archive::MemberIndex& index, const image::SelectedImage& selected,
                const std::vector<std::size_t>& layer_indices);

/// --cat PATH: the content of the regular file PATH names in the final
/// tree, on stdout. Throws NotFoundError (exit 4) when PATH is absent,
/// whited out, not a regular file, or cannot be resolved (a loop).
void cat_file(const cli::Options& options, const archive::MemberIndex& index, const image::SelectedImage& selected,
              const std::vector<std::size_t>& layer_indices);

}  // namespace undocker
