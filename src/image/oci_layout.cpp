// OCI image layouts inside a tar: `oci-layout`, `index.json` and
// `blobs/<alg>/<hex>`. Written by Docker 25+ (`docker save`, alongside a
// manifest.json), by Docker 29's containerd store (a nested index per
// image), and by podman, skopeo and buildah as `oci-archive`. Docker
// manifest lists and v2 manifests are read the same way.
#include <fmt/format.h>

#include "image/image.hpp"
#include "image/json.hpp"
#include "util/error.hpp"
#include "util/limits.hpp"
#include "util/log.hpp"

namespace undocker::image {

namespace {

bool is_index_type(std::string_view media_type) {
  return media_type == "application/vnd.oci.image.index.v1+json" ||
         media_type == "application/vnd.docker.distribution.manifest.list.v2+json";
}

bool is_manifest_type(std::string_view media_type) {
  return media_type == "application/vnd.oci.image.manifest.v1+json" ||
         media_type == "application/vnd.docker.distribution.manifest.v2+json";
}

struct Descriptor {
  std::string media_type;
  std::string digest;
  std::optional<std::uint64_t> size;
  std::string platform;  // "os/arch[/variant]", empty if not given
  std::string ref_name;  // org.opencontainers.image.ref.name
  std::string image_name;  // io.containerd.image.name
  bool attestation = false;
};

std::optional<std::string> annotation(const JsonDocument& doc, simdjson::dom::object descriptor, std::string_view key) {
  std::optional<simdjson::dom::element> annotations = doc.field(descriptor, "annotations");
  if (!annotations) return std::nullopt;
  return doc.optional_string(doc.object(*annotations, "\"annotations\""), key);
}

Descriptor read_descriptor(const JsonDocument& doc, simdjson::dom::element value, std::string_view what) {
  simdjson::dom::object object = doc.object(value, what);
  Descriptor descriptor;
  descriptor.media_type = doc.optional_string(object, "mediaType").value_or("");
  descriptor.digest = doc.required_string(object, "digest");
  if (std::optional<simdjson::dom::element> size = doc.field(object, "size")) {
    std::uint64_t bytes = 0;
    if (size->get(bytes)) doc.fail(fmt::format("{}: \"size\" is not a non-negative integer", what));
    descriptor.size = bytes;
  }
  if (std::optional<simdjson::dom::element> platform = doc.field(object, "platform")) {
    simdjson::dom::object platform_object = doc.object(*platform, "\"platform\"");
    const std::string os = doc.optional_string(platform_object, "os").value_or("");
    const std::string arch = doc.optional_string(platform_object, "architecture").value_or("");
    const std::string variant = doc.optional_string(platform_object, "variant").value_or("");
    descriptor.platform = variant.empty() ? fmt::format("{}/{}", os, arch) : fmt::format("{}/{}/{}", os, arch, variant);
    descriptor.attestation = os == "unknown" && arch == "unknown";
  }
  descriptor.ref_name = annotation(doc, object, "org.opencontainers.image.ref.name").value_or("");
  descriptor.image_name = annotation(doc, object, "io.containerd.image.name").value_or("");
  if (annotation(doc, object, "vnd.docker.reference.type").value_or("") == "attestation-manifest") {
    descriptor.attestation = true;
  }
  return descriptor;
}

// The names an index entry gives its image: containerd's full reference,
// else the OCI ref name, which is either a full reference or a bare tag.
std::vector<std::string> names_of(const Descriptor& descriptor) {
  std::vector<std::string> names;
  if (!descriptor.image_name.empty()) {
    names.push_back(descriptor.image_name);
  } else if (!descriptor.ref_name.empty()) {
    const bool bare_tag = descriptor.ref_name.find(':') == std::string::npos &&
                          descriptor.ref_name.find('/') == std::string::npos;
    names.push_back(bare_tag ? ":" + descriptor.ref_name : descriptor.ref_name);
  }
  return names;
}

class LayoutReader {
 public:
  explicit LayoutReader(const archive::MemberIndex& index) : index_(index) {}

  ImageArchive read() {
    const std::optional<archive::Member> member = index_.find_file("index.json");
    if (!member) throw FormatError("index.json: not a regular file");
    JsonDocument doc(index_.data(*member), "index.json");
    simdjson::dom::object root = doc.object(doc.root(), "the index");
    std::optional<simdjson::dom::element> manifests = doc.field(root, "manifests");
    if (manifests) {
      std::size_t position = 0;
      for (simdjson::dom::element item : doc.array(*manifests, "\"manifests\"")) {
        const Descriptor descriptor = read_descriptor(doc, item, fmt::format("index.json manifest {}", position));
        visit(descriptor, names_of(descriptor), position, 0);
        ++position;
      }
    }
    result_.format = ArchiveFormat::kOciLayout;
    return std::move(result_);
  }

 private:
  void visit(const Descriptor& descriptor, const std::vector<std::string>& names, std::size_t group, std::size_t depth) {
    if (descriptor.attestation) return;  // provenance and SBOMs, not a root filesystem
    if (depth > limits::kMaxIndexDepth) {
      throw FormatError(fmt::format("{}: image indexes nest deeper than {} levels", descriptor.digest,
                                    limits::kMaxIndexDepth));
    }
    const std::string member_name = blob_member(descriptor.digest, "index.json");
    const std::optional<archive::Member> member = index_.find_file(member_name);
    if (!member) {
      // `docker save` of one platform of a multi-platform image lists the
      // others without their blobs: an error only if that one is chosen.
      if (is_index_type(descriptor.media_type)) return;
      Image image;
      image.repo_tags = names;
      image.platform = descriptor.platform;
      image.group = group;
      image.manifest_digest = descriptor.digest;
      image.missing_blob = descriptor.digest;
      image.id = descriptor.digest.substr(descriptor.digest.find(':') + 1);
      result_.images.push_back(std::move(image));
      return;
    }
    JsonDocument doc(index_.data(*member), member_name);
    simdjson::dom::object object = doc.object(doc.root(), "the document");
    std::string media_type = descriptor.media_type;
    if (media_type.empty()) media_type = doc.optional_string(object, "mediaType").value_or("");
    if (media_type.empty()) {
      // Media types are optional in old documents: tell by shape.
      media_type = doc.field(object, "manifests") ? "application/vnd.oci.image.index.v1+json"
                                                  : "application/vnd.oci.image.manifest.v1+json";
    }
    if (is_index_type(media_type)) {
      std::optional<simdjson::dom::element> manifests = doc.field(object, "manifests");
      if (!manifests) return;
      std::size_t position = 0;
      for (simdjson::dom::element item : doc.array(*manifests, "\"manifests\"")) {
        const Descriptor child = read_descriptor(doc, item, fmt::format("manifest {}", position++));
        std::vector<std::string> child_names = names.empty() ? names_of(child) : names;
        visit(child, child_names, group, depth + 1);
      }
      return;
    }
    if (!is_manifest_type(media_type)) {
      throw FormatError(fmt::format("{}: unsupported media type {}", member_name, escape(media_type)));
    }
    Image image;
    image.repo_tags = names;
    image.platform = descriptor.platform;
    image.group = group;
    image.manifest_digest = descriptor.digest;
    image.manifest_member = member_name;
    std::optional<simdjson::dom::element> config_value = doc.field(object, "config");
    if (!config_value) doc.fail("the manifest has no \"config\"");
    const Descriptor config = read_descriptor(doc, *config_value, "\"config\"");
    image.config_digest = config.digest;
    image.config_size = config.size;
    image.config_member = blob_member(config.digest, member_name);
    image.id = config.digest.substr(config.digest.find(':') + 1);
    if (std::optional<simdjson::dom::element> layers = doc.field(object, "layers")) {
      std::size_t position = 0;
      for (simdjson::dom::element item : doc.array(*layers, "\"layers\"")) {
        const Descriptor layer_descriptor = read_descriptor(doc, item, fmt::format("layer {}", position++));
        Layer layer;
        layer.digest = layer_descriptor.digest;
        layer.id = layer.digest.substr(layer.digest.find(':') + 1);
        layer.member = blob_member(layer.digest, member_name);
        layer.media_type = layer_descriptor.media_type;
        layer.size_bytes = layer_descriptor.size;
        image.layers.push_back(std::move(layer));
      }
    }
    result_.images.push_back(std::move(image));
  }

  const archive::MemberIndex& index_;
  ImageArchive result_;
};

}  // namespace

std::string blob_member(std::string_view digest, std::string_view where) {
  const std::size_t colon = digest.find(':');
  const std::string_view algorithm = colon == std::string_view::npos ? "" : digest.substr(0, colon);
  const std::string_view hex = colon == std::string_view::npos ? "" : digest.substr(colon + 1);
  bool valid = algorithm == "sha256" && hex.size() == 64;
  for (char c : hex) valid = valid && ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'));
  if (!valid) throw FormatError(fmt::format("{}: invalid digest {}", escape(where), escape(digest)));
  return fmt::format("blobs/{}/{}", algorithm, hex);
}

ImageArchive load_oci_layout(const archive::MemberIndex& index) { return LayoutReader(index).read(); }

}  // namespace undocker::image
