// --json output: one schema for --list and --layers across every archive
// format, documented in README.md ("JSON output").
#pragma once

#include <string>
#include <string_view>

#include "archive/index.hpp"
#include "image/image.hpp"
#include "output/layer_table.hpp"

namespace undocker::output {

/// {"format": …, "images": [IMAGE, …]} for --list --json.
std::string archive_json(const image::ImageArchive& archive, const archive::MemberIndex& index);

/// IMAGE for --layers --json: id, names, platform, digests and layers
/// (with sizes[i], when given, as layer i's compressed and uncompressed
/// sizes; null otherwise).
std::string image_json(const image::Image& image, const std::vector<LayerSizes>& sizes = {});

/// A JSON string literal; bytes that are not valid UTF-8 become U+FFFD.
std::string json_string(std::string_view text);

}  // namespace undocker::output
