// Choosing the image and the layers the user asked for (SPEC section 1):
// NAME[:TAG] with Docker's name defaults, NAME@sha256:HEX, an image id or a
// unique id prefix; layers by id, digest, diffID, unique prefix or index.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "image/image.hpp"

namespace undocker::image {

struct SelectedImage {
  const Image* image = nullptr;
  std::string display_name;  // the name without its tag, for messages
};

/// The image `reference` names, or the only image when it is empty, in
/// `platform` ("os/arch[/variant]"; empty: the only one, else the host's).
/// Throws NotFoundError with the original's messages.
SelectedImage select_image(const ImageArchive& archive, const std::optional<std::string>& reference,
                           const std::string& platform = "");

/// The platform this binary runs on, as OCI names it ("linux/amd64").
std::string host_platform();

/// True when `available` satisfies `wanted` ("linux/arm64" matches
/// "linux/arm64/v8"; a variant, when given, must match).
bool platform_matches(std::string_view available, std::string_view wanted);

/// Indices (bottom first) of the layers `wanted` names; all when empty.
/// Throws NotFoundError for an unknown or ambiguous layer.
std::vector<std::size_t> select_layers(const Image& image, const std::vector<std::string>& wanted);

/// "busybox" → "docker.io/library/busybox"; "quay.io/x" unchanged.
std::string normalize_repository(std::string_view name);

}  // namespace undocker::image
