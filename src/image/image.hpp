// The format-independent view of an image archive: which images it holds,
// their names, and the layers (outer-archive members) of each, bottom first.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "archive/index.hpp"

namespace undocker::image {

struct Layer {
  std::string id;          // what --layers prints and -l matches first
  std::string member;      // outer-archive member that holds the blob
  std::string digest;      // "sha256:<hex>" of the blob, when known
  std::string diff_id;     // "sha256:<hex>" of the uncompressed tar, when known
  std::string media_type;  // when a manifest says it
  std::optional<std::uint64_t> size_bytes;
  std::string created_by;  // the config history's command that made it, when known
};

struct Image {
  std::string id;                      // config digest hex, or the legacy top layer id
  std::vector<std::string> repo_tags;  // "name:tag" as stored ("" name for a bare OCI tag)
  std::string config_member;           // empty for legacy v1 without config
  std::string config_digest;           // "sha256:<hex>" when a descriptor gives it
  std::optional<std::uint64_t> config_size;
  std::string manifest_digest;         // OCI: the manifest's descriptor digest
  std::string manifest_member;         // OCI: the manifest blob
  std::string platform;                // "os/arch[/variant]" when known
  std::size_t group = 0;               // images of one index entry are one image in several platforms
  std::string missing_blob;            // non-empty: this platform's blobs were not saved
  std::vector<Layer> layers;           // bottom first
};

enum class ArchiveFormat { kDockerV1, kDockerManifest, kOciLayout };

std::string_view format_name(ArchiveFormat format);

struct ImageArchive {
  ArchiveFormat format = ArchiveFormat::kDockerManifest;
  std::vector<Image> images;
};

/// Tells the format from the members present and loads every image.
/// Throws FormatError when the archive holds no image we can read.
ImageArchive load_images(const archive::MemberIndex& index);

/// Splits "name:tag" at the last ':' after the last '/' ("host:5000/a:b").
/// A name without a tag gets "latest".
std::pair<std::string, std::string> split_name_tag(std::string_view reference);

// Loaders, one per format (image/docker_manifest.cpp, image/docker_v1.cpp).
ImageArchive load_docker_manifest(const archive::MemberIndex& index);
ImageArchive load_docker_v1(const archive::MemberIndex& index);
ImageArchive load_oci_layout(const archive::MemberIndex& index);

/// Fills diff_ids and the platform from each image's config (when it has
/// one and the config is in the archive).
void read_configs(const archive::MemberIndex& index, ImageArchive& archive);

/// "blobs/sha256/<hex>" for "sha256:<hex>"; FormatError if the digest is
/// not a well-formed sha256 digest (it becomes a member name).
std::string blob_member(std::string_view digest, std::string_view where);

/// The layer id a member path implies: "<id>/layer.tar" gives <id>,
/// "blobs/sha256/<hex>" gives <hex>; anything else is the path itself.
std::string layer_id_from_member(std::string_view member);

}  // namespace undocker::image
