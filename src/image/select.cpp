#include "image/select.hpp"

#include <charconv>

#include <fmt/format.h>

#include "util/error.hpp"
#include "util/log.hpp"

namespace undocker::image {

namespace {

bool is_hex(std::string_view text) {
  if (text.empty()) return false;
  for (char c : text) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

std::string strip_algorithm(std::string_view id) {
  return std::string(id.starts_with("sha256:") ? id.substr(7) : id);
}

bool same_repository(std::string_view a, std::string_view b) {
  return a == b || normalize_repository(a) == normalize_repository(b);
}

}  // namespace

std::string normalize_repository(std::string_view name) {
  std::string result(name);
  const std::size_t slash = result.find('/');
  const std::string first = slash == std::string::npos ? "" : result.substr(0, slash);
  const bool has_registry = !first.empty() &&
      (first.find('.') != std::string::npos || first.find(':') != std::string::npos || first == "localhost");
  if (!has_registry) result = "docker.io/" + result;
  if (result.starts_with("index.docker.io/")) result = "docker.io/" + result.substr(16);
  if (result.starts_with("docker.io/") && result.find('/', 10) == std::string::npos) {
    result = "docker.io/library/" + result.substr(10);
  }
  return result;
}

SelectedImage select_image(const ImageArchive& archive, const std::optional<std::string>& reference) {
  if (!reference || reference->empty()) {
    if (archive.images.size() != 1) {
      throw NotFoundError(archive.images.empty()
                              ? "the archive holds no image"
                              : "No image name specified and multiple images contained in archive");
    }
    const Image& image = archive.images.front();
    std::string name = image.repo_tags.empty() ? image.id : split_name_tag(image.repo_tags.front()).first;
    return {&image, name};
  }

  // NAME@sha256:HEX: the digest names the image id (the config digest).
  if (const std::size_t at = reference->find('@'); at != std::string::npos) {
    const std::string name = reference->substr(0, at);
    const std::string id = strip_algorithm(std::string_view(*reference).substr(at + 1));
    for (const Image& image : archive.images) {
      if (image.id == id) return {&image, name};
    }
    throw NotFoundError(fmt::format("failed to find image {} with digest {}", escape(name),
                                    escape(reference->substr(at + 1))));
  }

  const auto [name, tag] = split_name_tag(*reference);
  for (const Image& image : archive.images) {
    for (const std::string& repo_tag : image.repo_tags) {
      const auto [image_name, image_tag] = split_name_tag(repo_tag);
      if (image_tag == tag && same_repository(image_name, name)) return {&image, name};
    }
  }

  // An image id or a unique prefix of one, as `docker run` accepts.
  const std::string id = strip_algorithm(*reference);
  if (is_hex(id)) {
    const Image* match = nullptr;
    for (const Image& image : archive.images) {
      if (!image.id.starts_with(id)) continue;
      if (match && match->id != image.id) {
        throw NotFoundError(fmt::format("image id prefix {} is ambiguous", escape(id)));
      }
      match = &image;
    }
    if (match) return {match, match->repo_tags.empty() ? match->id : split_name_tag(match->repo_tags.front()).first};
  }
  throw NotFoundError(fmt::format("failed to find image {} with tag {}", escape(name), escape(tag)));
}

std::vector<std::size_t> select_layers(const Image& image, const std::vector<std::string>& wanted) {
  std::vector<bool> chosen(image.layers.size(), false);
  if (wanted.empty()) chosen.assign(image.layers.size(), true);
  for (const std::string& raw : wanted) {
    const std::string key = strip_algorithm(raw);
    std::optional<std::size_t> match;
    bool ambiguous = false;
    auto consider = [&](std::size_t i) {
      if (match && *match != i) ambiguous = true;
      match = i;
    };
    // Exact ids, digests and diffIDs first, so a full id never counts as
    // an ambiguous prefix of itself; then unique prefixes; then an index.
    for (std::size_t i = 0; i < image.layers.size(); ++i) {
      const Layer& layer = image.layers[i];
      if (layer.id == key || strip_algorithm(layer.digest) == key || strip_algorithm(layer.diff_id) == key) {
        chosen[i] = true;
        match = i;
      }
    }
    if (match) continue;
    if (is_hex(key)) {
      for (std::size_t i = 0; i < image.layers.size(); ++i) {
        const Layer& layer = image.layers[i];
        if (layer.id.starts_with(key) || (!layer.digest.empty() && strip_algorithm(layer.digest).starts_with(key)) ||
            (!layer.diff_id.empty() && strip_algorithm(layer.diff_id).starts_with(key))) {
          consider(i);
        }
      }
    }
    std::size_t position = 0;
    const auto [end, error] = std::from_chars(key.data(), key.data() + key.size(), position);
    if (!match && error == std::errc() && end == key.data() + key.size() && position < image.layers.size()) {
      match = position;
    }
    if (ambiguous) throw NotFoundError(fmt::format("layer {} is ambiguous", escape(raw)));
    if (!match) throw NotFoundError(fmt::format("failed to find layer {} in the image", escape(raw)));
    chosen[*match] = true;
  }
  std::vector<std::size_t> indices;
  for (std::size_t i = 0; i < chosen.size(); ++i) {
    if (chosen[i]) indices.push_back(i);
  }
  return indices;
}

}  // namespace undocker::image
