#include "image/select.hpp"

#include <sys/utsname.h>

#include <algorithm>
#include <charconv>

#include <fmt/format.h>

#include "util/error.hpp"
#include "util/log.hpp"

namespace undocker::image {

namespace {

// Layer indexes up to 9999; a longer number is taken as an id prefix.
constexpr std::size_t kMaxIndexDigits = 4;
// A not-found error names at most this many images after it: enough to
// spot a typo, short enough for a terminal; --list shows them all.
constexpr std::size_t kMaxImagesNamed = 10;
// Untagged images are named by this much of their id, as docker does.
constexpr std::size_t kShortIdChars = 12;

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

std::string host_platform() {
  utsname name{};
  std::string machine = uname(&name) == 0 ? name.machine : "x86_64";
  if (machine == "x86_64") return "linux/amd64";
  if (machine == "aarch64") return "linux/arm64";
  if (machine.starts_with("armv7")) return "linux/arm/v7";
  if (machine == "i686" || machine == "i386") return "linux/386";
  return "linux/" + machine;
}

bool platform_matches(std::string_view available, std::string_view wanted) {
  if (available == wanted) return true;
  // arm64's only variant is v8: "linux/arm64" and "linux/arm64/v8" agree.
  auto without_v8 = [](std::string_view p) { return p.ends_with("/arm64/v8") ? p.substr(0, p.size() - 3) : p; };
  if (without_v8(available) == without_v8(wanted)) return true;
  // No variant asked for: any variant of that os/arch.
  return std::count(wanted.begin(), wanted.end(), '/') == 1 && available.starts_with(std::string(wanted) + "/");
}

namespace {

// How a note names an image: its first NAME:TAG (a bare OCI tag alone),
// else the start of its id.
std::string reference_of(const Image& image) {
  if (image.repo_tags.empty()) return escape(image.id.substr(0, kShortIdChars));
  const auto [name, tag] = split_name_tag(image.repo_tags.front());
  return escape(name.empty() ? tag : image.repo_tags.front());
}

// "the archive holds 2 images: a:latest, b:1" (one per image, whatever its
// platforms), at most kMaxImagesNamed of them and then how many more.
std::string images_note(const ImageArchive& archive) {
  std::vector<std::size_t> groups;
  std::vector<std::string> references;
  for (const Image& image : archive.images) {
    if (std::find(groups.begin(), groups.end(), image.group) != groups.end()) continue;
    groups.push_back(image.group);
    references.push_back(reference_of(image));
  }
  std::string shown;
  for (std::size_t i = 0; i < references.size() && i < kMaxImagesNamed; ++i) {
    if (i > 0) shown += ", ";
    shown += references[i];
  }
  if (references.size() > kMaxImagesNamed) shown += fmt::format(" and {} more", references.size() - kMaxImagesNamed);
  return fmt::format("the archive holds {}: {}", count_of(references.size(), "image"), shown);
}

constexpr const char* kListHint = "see every image and tag with --list";

std::string display_name_of(const Image& image) {
  if (image.repo_tags.empty()) return image.id;
  const std::string name = split_name_tag(image.repo_tags.front()).first;
  return name.empty() ? image.id : name;
}

// Every image the reference names, in any platform (none: all of them).
std::vector<const Image*> images_named(const ImageArchive& archive, const std::optional<std::string>& reference,
                                       std::string& display_name) {
  std::vector<const Image*> found;
  if (!reference || reference->empty()) {
    std::vector<std::size_t> groups;
    for (const Image& image : archive.images) {
      if (std::find(groups.begin(), groups.end(), image.group) == groups.end()) groups.push_back(image.group);
    }
    if (groups.empty()) throw NotFoundError("the archive holds no image");
    if (groups.size() != 1) {
      // The original's words (scripts match them), then what there is.
      throw NotFoundError("No image name specified and multiple images contained in archive",
                          {images_note(archive), "name one as IMAGE (see --list), or extract every one with --all"});
    }
    for (const Image& image : archive.images) found.push_back(&image);
    display_name = display_name_of(*found.front());
    return found;
  }

  // NAME@sha256:HEX names the image by its id (config digest) or manifest digest.
  if (const std::size_t at = reference->find('@'); at != std::string::npos) {
    display_name = reference->substr(0, at);
    const std::string id = strip_algorithm(std::string_view(*reference).substr(at + 1));
    for (const Image& image : archive.images) {
      if (image.id == id || strip_algorithm(image.manifest_digest) == id) found.push_back(&image);
    }
    if (found.empty()) {
      throw NotFoundError(fmt::format("failed to find image {} with digest {}", escape(display_name),
                                      escape(reference->substr(at + 1))),
                          {images_note(archive), "see every image and its digests with --list --json"});
    }
    return found;
  }

  const auto [name, tag] = split_name_tag(*reference);
  display_name = name;
  for (const Image& image : archive.images) {
    for (const std::string& repo_tag : image.repo_tags) {
      const auto [image_name, image_tag] = split_name_tag(repo_tag);
      // A bare OCI ref name (":tag") is matched by the tag alone.
      const bool matches = image_name.empty() ? (*reference == image_tag || (name.empty() && tag == image_tag))
                                              : (image_tag == tag && same_repository(image_name, name));
      if (matches) {
        found.push_back(&image);
        break;
      }
    }
  }
  if (!found.empty()) return found;

  // An image id or a unique prefix of one, as `docker run` accepts.
  const std::string id = strip_algorithm(*reference);
  if (is_hex(id)) {
    for (const Image& image : archive.images) {
      if (!image.id.starts_with(id)) continue;
      if (!found.empty() && found.front()->id != image.id && found.front()->group != image.group) {
        std::string ids;
        for (const Image& other : archive.images) {
          if (other.id.starts_with(id) && ids.find(other.id) == std::string::npos) ids += (ids.empty() ? "" : ", ") + other.id;
        }
        throw NotFoundError(fmt::format("image id prefix {} is ambiguous", escape(id)),
                            {fmt::format("image ids that start with it: {}", escape(ids)), "give more of the id"});
      }
      found.push_back(&image);
    }
    if (!found.empty()) {
      display_name = display_name_of(*found.front());
      return found;
    }
  }
  // The original's words, then the tags this name has, or else the images.
  std::vector<std::string> tags;
  for (const Image& image : archive.images) {
    for (const std::string& repo_tag : image.repo_tags) {
      const auto [image_name, image_tag] = split_name_tag(repo_tag);
      if (!image_name.empty() && same_repository(image_name, name) &&
          std::find(tags.begin(), tags.end(), image_tag) == tags.end()) {
        tags.push_back(image_tag);
      }
    }
  }
  std::string first_note = images_note(archive);
  if (!tags.empty()) {
    first_note = fmt::format("image {} has {}: ", escape(name), tags.size() == 1 ? "tag" : "tags");
    for (std::size_t i = 0; i < tags.size(); ++i) first_note += (i ? ", " : "") + escape(tags[i]);
  }
  throw NotFoundError(fmt::format("failed to find image {} with tag {}", escape(name), escape(tag)),
                      {first_note, kListHint});
}

std::string platform_list(const std::vector<const Image*>& images) {
  std::string list;
  for (const Image* image : images) {
    const std::string platform = image->platform.empty() ? "unknown" : image->platform;
    if (list.find(platform) != std::string::npos) continue;
    if (!list.empty()) list += ", ";
    list += platform;
  }
  return list;
}

}  // namespace

SelectedImage select_image(const ImageArchive& archive, const std::optional<std::string>& reference,
                           const std::string& platform) {
  std::string display_name;
  std::vector<const Image*> candidates = images_named(archive, reference, display_name);
  const std::vector<const Image*> all = candidates;

  auto keep_platform = [&](std::string_view wanted) {
    std::vector<const Image*> kept;
    for (const Image* image : candidates) {
      if (platform_matches(image->platform, wanted)) kept.push_back(image);
    }
    return kept;
  };
  auto distinct = [](const std::vector<const Image*>& images) {
    for (const Image* image : images) {
      if (image->id != images.front()->id) return false;
    }
    return true;
  };

  if (!platform.empty()) {
    candidates = keep_platform(platform);
    if (candidates.empty()) {
      throw NotFoundError(fmt::format("image {} has no platform {}; available: {}", escape(display_name),
                                      escape(platform), platform_list(all)));
    }
  } else if (!distinct(candidates)) {
    // Platforms listed without their blobs cannot be meant by default.
    std::vector<const Image*> saved;
    for (const Image* image : candidates) {
      if (image->missing_blob.empty()) saved.push_back(image);
    }
    if (!saved.empty()) candidates = saved;
  }
  if (platform.empty() && !distinct(candidates)) {
    // Several platforms and none asked for: the host's, as docker pull does.
    std::vector<const Image*> host = keep_platform(host_platform());
    if (host.empty() || !distinct(host)) {
      throw NotFoundError(fmt::format("image {} has several platforms ({}); choose one with --platform",
                                      escape(display_name), platform_list(all)));
    }
    candidates = host;
  }
  if (!distinct(candidates)) {
    throw NotFoundError(fmt::format("image {} has several images for platform {}; name one by id",
                                    escape(display_name), escape(platform)));
  }
  const Image* chosen = candidates.front();
  if (!chosen->missing_blob.empty()) {
    throw NotFoundError(fmt::format("image {} for platform {} was not saved in the archive (manifest {} is missing)",
                                    escape(display_name), chosen->platform.empty() ? "unknown" : chosen->platform,
                                    escape(chosen->missing_blob)));
  }
  return {chosen, display_name};
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
    // A short decimal number is the index --layers shows; anything else
    // (and a longer number) is a prefix of an id, digest or diffID.
    std::size_t position = 0;
    const auto [end, error] = std::from_chars(key.data(), key.data() + key.size(), position);
    if (key.size() == raw.size() && key.size() <= kMaxIndexDigits && error == std::errc() && end == key.data() + key.size()) {
      if (position >= image.layers.size()) {
        throw NotFoundError(fmt::format("layer index {} is out of range: the image has {}", escape(raw),
                                        count_of(image.layers.size(), "layer")),
                            {"see the layers and their indexes with --layers"});
      }
      chosen[position] = true;
      continue;
    }
    if (is_hex(key)) {
      for (std::size_t i = 0; i < image.layers.size(); ++i) {
        const Layer& layer = image.layers[i];
        if (layer.id.starts_with(key) || (!layer.digest.empty() && strip_algorithm(layer.digest).starts_with(key)) ||
            (!layer.diff_id.empty() && strip_algorithm(layer.diff_id).starts_with(key))) {
          consider(i);
        }
      }
    }
    if (ambiguous) {
      throw NotFoundError(fmt::format("layer {} is ambiguous", escape(raw)),
                          {"give more of the id, or the index --layers shows"});
    }
    if (!match) {
      throw NotFoundError(fmt::format("failed to find layer {} in the image", escape(raw)),
                          {fmt::format("the image has {}; see them with --layers", count_of(image.layers.size(), "layer"))});
    }
    chosen[*match] = true;
  }
  std::vector<std::size_t> indices;
  for (std::size_t i = 0; i < chosen.size(); ++i) {
    if (chosen[i]) indices.push_back(i);
  }
  return indices;
}

}  // namespace undocker::image
