// --json output: one schema for --list and --layers across every archive
// format, documented in README.md ("JSON output").
#pragma once

#include <string>
#include <string_view>

#include "image/image.hpp"

namespace undocker::output {

/// {"format": …, "images": [IMAGE, …]} for --list --json.
std::string archive_json(const image::ImageArchive& archive);

/// IMAGE for --layers --json: id, names, platform, digests and layers.
std::string image_json(const image::Image& image);

/// A JSON string literal; bytes that are not valid UTF-8 become U+FFFD.
std::string json_string(std::string_view text);

}  // namespace undocker::output
