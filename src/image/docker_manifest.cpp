// Docker 1.10+ archives: manifest.json is a list of
//   {"Config": "<hex>.json", "RepoTags": ["name:tag"] | null, "Layers": ["<id>/layer.tar", …]}
// written by `docker save`, `podman save`, skopeo's and crane's docker-archive.
// Docker 25+ names blobs "blobs/sha256/<hex>" instead; the shape is the same.
#include <algorithm>

#include <fmt/format.h>

#include "image/image.hpp"
#include "image/json.hpp"
#include "util/error.hpp"
#include "util/path.hpp"
#include "util/log.hpp"

namespace undocker::image {

namespace {

std::string image_id_from_config(std::string_view config_member) {
  std::string id = layer_id_from_member(config_member);
  if (id.ends_with(".json")) id.resize(id.size() - 5);
  if (id.starts_with("sha256:")) id.erase(0, 7);
  return id;
}

}  // namespace

ImageArchive load_docker_manifest(const archive::MemberIndex& index) {
  const std::optional<archive::Member> member = index.find_file("manifest.json");
  if (!member) throw FormatError("manifest.json: not a regular file");
  JsonDocument doc(index.data(*member), "manifest.json");

  ImageArchive result;
  result.format = ArchiveFormat::kDockerManifest;
  std::size_t position = 0;
  for (simdjson::dom::element item : doc.array(doc.root(), "the manifest")) {
    const std::string where = fmt::format("image {}", position++);
    simdjson::dom::object entry = doc.object(item, where);
    Image image;
    const std::string raw_config = doc.required_string(entry, "Config");
    const std::optional<std::string> config = clean_entry_path(raw_config);
    if (!config || config->empty() || raw_config.starts_with('/')) {
      doc.fail(fmt::format("config path {} leaves the archive", escape(raw_config)));
    }
    if (!index.find_file(*config)) doc.fail(fmt::format("config {} is not in the archive", escape(raw_config)));
    image.config_member = *config;
    image.id = image_id_from_config(image.config_member);
    // The config's file name is its sha256 in every docker-archive writer.
    if (image.id.size() == 64) image.config_digest = "sha256:" + image.id;
    // A RepoTag without a tag ("test_image_1", as go-containerregistry
    // writes) means :latest, as everywhere in Docker.
    for (const std::string& repo_tag : doc.string_list(entry, "RepoTags")) {
      const std::size_t slash = repo_tag.rfind('/');
      const std::size_t colon = repo_tag.rfind(':');
      const bool has_tag = colon != std::string::npos && (slash == std::string::npos || colon > slash);
      image.repo_tags.push_back(has_tag ? repo_tag : repo_tag + ":latest");
    }
    for (const std::string& raw_path : doc.string_list(entry, "Layers")) {
      const std::optional<std::string> path = clean_entry_path(raw_path);
      if (!path || raw_path.starts_with('/')) {
        doc.fail(fmt::format("layer path {} leaves the archive", escape(raw_path)));
      }
      if (!index.find_file(*path)) {
        doc.fail(fmt::format("layer {} is not in the archive", escape(raw_path)));
      }
      Layer layer;
      layer.member = *path;
      layer.id = layer_id_from_member(*path);
      if (path->starts_with("blobs/sha256/")) layer.digest = "sha256:" + layer.id;
      layer.size_bytes = index.find_file(*path)->size_bytes;
      image.layers.push_back(std::move(layer));
    }
    // Tags of one image saved together may come as separate entries.
    auto same = std::find_if(result.images.begin(), result.images.end(), [&](const Image& other) {
      return other.id == image.id && other.layers.size() == image.layers.size();
    });
    if (same != result.images.end()) {
      same->repo_tags.insert(same->repo_tags.end(), image.repo_tags.begin(), image.repo_tags.end());
      continue;
    }
    image.group = result.images.size();
    result.images.push_back(std::move(image));
  }
  return result;
}

}  // namespace undocker::image
