// The image reference grammar (the distribution project's, which Docker,
// containerd and podman enforce): what a repository name, a tag and an
// image id may look like. Names from an archive are checked against it
// before they name anything on disk (--all's DIR/NAME/TAG).
#pragma once

#include <string_view>

namespace undocker::image {

/// NAME: lowercase path components `[a-z0-9]+` joined by `.`, `_`, `__`
/// or runs of `-`, separated by `/`, optionally after a `host[:port]/`
/// (a first component holding `.` or `:`, or `localhost`).
bool is_valid_repository(std::string_view name);

/// TAG: `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
bool is_valid_tag(std::string_view tag);

/// An image id used as a directory name: the tag grammar (a hex digest or
/// a legacy v1 id fits it; "." and ".." do not).
bool is_valid_image_id(std::string_view id);

}  // namespace undocker::image
