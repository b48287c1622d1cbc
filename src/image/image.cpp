#include "image/image.hpp"

#include <fmt/format.h>

#include "util/error.hpp"
#include "util/log.hpp"

namespace undocker::image {

ImageArchive load_images(const archive::MemberIndex& index) {
  // Docker 1.10+ writes both manifest.json and the legacy files; the
  // manifest is the authority where present (SPEC section 2).
  if (index.contains("manifest.json")) return load_docker_manifest(index);
  if (index.contains("repositories")) return load_docker_v1(index);
  throw FormatError(fmt::format("{}: not an image archive (no manifest.json or repositories)",
                                escape(index.archive_name())));
}

std::pair<std::string, std::string> split_name_tag(std::string_view reference) {
  const std::size_t slash = reference.rfind('/');
  const std::size_t colon = reference.rfind(':');
  if (colon != std::string_view::npos && (slash == std::string_view::npos || colon > slash)) {
    return {std::string(reference.substr(0, colon)), std::string(reference.substr(colon + 1))};
  }
  return {std::string(reference), "latest"};
}

std::string layer_id_from_member(std::string_view member) {
  constexpr std::string_view kLayerTar = "/layer.tar";
  if (member.ends_with(kLayerTar) && member.size() > kLayerTar.size()) {
    std::string_view dir = member.substr(0, member.size() - kLayerTar.size());
    const std::size_t slash = dir.rfind('/');
    return std::string(slash == std::string_view::npos ? dir : dir.substr(slash + 1));
  }
  const std::size_t slash = member.rfind('/');
  if (slash != std::string_view::npos && member.substr(0, slash).ends_with("sha256")) {
    return std::string(member.substr(slash + 1));
  }
  return std::string(member);
}

}  // namespace undocker::image
