// --layers: the selected image's layers as ids alone (the original's
// output), as a table with -v, or as JSON with --json. One shape of row for
// every archive format; what a format does not record shows as "-" (null
// in JSON).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "archive/index.hpp"
#include "image/image.hpp"

namespace undocker::output {

/// A layer's sizes as far as the archive tells without inflating it: the
/// blob's size is the compressed size of a compressed blob and the
/// uncompressed size of a plain tar.
struct LayerSizes {
  std::optional<std::uint64_t> compressed_bytes;
  std::optional<std::uint64_t> uncompressed_bytes;
};

/// One LayerSizes per layer of image; a blob missing from the archive
/// gives neither size.
std::vector<LayerSizes> layer_sizes(const archive::MemberIndex& index, const image::Image& image);

/// The -v table: a header, then one row per layer, bottom first:
/// INDEX ID DIFF_ID MEDIA_TYPE COMPRESSED SIZE CREATED_BY (sizes in bytes).
/// width > 0 (a terminal): ids and diffIDs shortened to 12 hex digits as
/// docker shows them, and CREATED_BY cut to what is left of the width, with
/// "…". width 0: everything whole. Ends each line with '\n'.
std::string render_layer_table(const image::Image& image, const std::vector<LayerSizes>& sizes,
                               std::size_t width = 0);

/// Prints what --layers asks for to stdout: ids, the table (verbose), or
/// the image's JSON (json).
void print_layers(const archive::MemberIndex& index, const image::Image& image, bool json, bool verbose);

}  // namespace undocker::output
