#include "image/image.hpp"

#include <fmt/format.h>

#include "image/json.hpp"
#include "util/error.hpp"
#include "util/log.hpp"

namespace undocker::image {

namespace {

ImageArchive load_any(const archive::MemberIndex& index) {
  // Docker 25+ writes an OCI layout and a manifest.json; the layout knows
  // every platform, so it leads, and manifest.json lends its RepoTags. An
  // index with "manifests": null (Docker 25 saving by id) falls back.
  if (index.contains("index.json")) {
    ImageArchive oci = load_oci_layout(index);
    if (!oci.images.empty()) {
      if (index.contains("manifest.json")) {
        const ImageArchive docker = load_docker_manifest(index);
        for (Image& image : oci.images) {
          if (!image.repo_tags.empty()) continue;
          for (const Image& named : docker.images) {
            if (named.id == image.id) image.repo_tags = named.repo_tags;
          }
        }
      }
      return oci;
    }
  }
  // Docker 1.10+ writes both manifest.json and the legacy files; the
  // manifest is the authority where present (SPEC section 2).
  if (index.contains("manifest.json")) return load_docker_manifest(index);
  if (index.contains("repositories")) return load_docker_v1(index);
  if (index.contains("index.json")) {
    throw FormatError(fmt::format("{}: index.json lists no image and there is no manifest.json",
                                  escape(index.archive_name())));
  }
  throw FormatError(fmt::format("{}: not an image archive (no index.json, manifest.json or repositories)",
                                escape(index.archive_name())));
}

}  // namespace

std::string_view format_name(ArchiveFormat format) {
  switch (format) {
    case ArchiveFormat::kDockerV1: return "docker-v1";
    case ArchiveFormat::kDockerManifest: return "docker-archive";
    case ArchiveFormat::kOciLayout: return "oci-layout";
  }
  return "unknown";
}

ImageArchive load_images(const archive::MemberIndex& index) {
  ImageArchive archive = load_any(index);
  read_configs(index, archive);
  return archive;
}

namespace {

// The config's "history" names the command behind each layer (what
// `docker history` shows). Entries marked "empty_layer" made no layer
// (ENV, CMD, …); the others pair with the layers in order. History is only
// shown, never trusted: anything unexpected leaves created_by empty rather
// than failing a run that does not need it.
void read_history(const JsonDocument& doc, simdjson::dom::object config, Image& image) {
  const std::optional<simdjson::dom::element> history = doc.field(config, "history");
  simdjson::dom::array entries;
  if (!history || history->get(entries)) return;
  std::vector<std::string> created_by;
  for (simdjson::dom::element item : entries) {
    simdjson::dom::object entry;
    if (item.get(entry)) return;
    bool empty_layer = false;
    if (simdjson::dom::element flag; !entry.at_key("empty_layer").get(flag) && flag.get(empty_layer)) {
      empty_layer = false;  // not a boolean: a layer, as Docker reads it
    }
    if (empty_layer) continue;
    std::string_view text;
    if (entry.at_key("created_by").get(text)) text = {};
    created_by.emplace_back(text);
  }
  if (created_by.size() != image.layers.size()) return;
  for (std::size_t i = 0; i < created_by.size(); ++i) image.layers[i].created_by = std::move(created_by[i]);
}

}  // namespace

void read_configs(const archive::MemberIndex& index, ImageArchive& archive) {
  for (Image& image : archive.images) {
    if (image.config_member.empty()) continue;
    const std::optional<archive::Member> member = index.find_file(image.config_member);
    if (!member) continue;  // reported if this image is chosen
    JsonDocument doc(index.data(*member), image.config_member);
    simdjson::dom::object config = doc.object(doc.root(), "the image config");
    if (image.platform.empty()) {
      const std::string os = doc.optional_string(config, "os").value_or("");
      const std::string arch = doc.optional_string(config, "architecture").value_or("");
      const std::string variant = doc.optional_string(config, "variant").value_or("");
      if (!os.empty() || !arch.empty()) {
        image.platform = variant.empty() ? fmt::format("{}/{}", os, arch) : fmt::format("{}/{}/{}", os, arch, variant);
      }
    }
    std::vector<std::string> diff_ids;
    if (std::optional<simdjson::dom::element> rootfs = doc.field(config, "rootfs")) {
      diff_ids = doc.string_list(doc.object(*rootfs, "\"rootfs\""), "diff_ids");
    }
    // diffIDs pair with layers one to one; anything else is not ours to trust.
    if (diff_ids.size() == image.layers.size()) {
      for (std::size_t i = 0; i < diff_ids.size(); ++i) image.layers[i].diff_id = diff_ids[i];
    }
    read_history(doc, config, image);
  }
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
  // skopeo's and crane's docker-archive: "<hex>.tar", "<hex>.tar.gz", …
  std::string_view base = slash == std::string_view::npos ? member : member.substr(slash + 1);
  for (std::string_view suffix : {".tar", ".tar.gz", ".tgz", ".tar.zst", ".tar.zstd"}) {
    if (base.ends_with(suffix) && base.size() - suffix.size() == 64) return std::string(base.substr(0, 64));
  }
  return std::string(member);
}

}  // namespace undocker::image
