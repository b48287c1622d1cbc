#include "pipeline/image_blobs.hpp"

#include <optional>
#include <string>

#include <fmt/format.h>

#include "layer/verify.hpp"
#include "util/error.hpp"
#include "util/log.hpp"

namespace undocker {

void verify_metadata(const archive::MemberIndex& index, const image::Image& image) {
  if (!image.manifest_member.empty()) {
    if (const std::optional<archive::Member> manifest = index.find_file(image.manifest_member)) {
      layer::verify_blob(index.data(*manifest), image.manifest_digest, image.manifest_member);
    }
  }
  if (!image.config_member.empty() && !image.config_digest.empty()) {
    const std::optional<archive::Member> config = index.find_file(image.config_member);
    if (!config) throw FormatError(fmt::format("{}: the image config is not in the archive", escape(image.config_member)));
    layer::verify_blob(index.data(*config), image.config_digest, image.config_member);
  }
}

std::vector<LayerBlob> find_layer_blobs(const archive::MemberIndex& index, const image::Image& image,
                                        const std::vector<std::size_t>& layer_indices) {
  std::vector<LayerBlob> blobs;
  for (std::size_t i : layer_indices) {
    const image::Layer& layer = image.layers[i];
    const std::optional<archive::Member> member = index.find_file(layer.member);
    if (!member) {
      throw FormatError(fmt::format("{}: layer {}{} is not in the archive", escape(layer.member), escape(layer.id),
                                    layer.media_type.find("foreign") != std::string::npos ? " (a foreign layer)" : ""));
    }
    const Bytes blob = index.data(*member);
    blobs.push_back(LayerBlob{&layer, blob, layer::detect_compression(blob), index.file_range(*member)});
  }
  return blobs;
}

void queue_blob_digests(const std::vector<LayerBlob>& blobs, layer::BlobVerifier& verifier) {
  for (const LayerBlob& item : blobs) {
    std::vector<std::string> digests;
    if (!item.layer->digest.empty()) digests.push_back(item.layer->digest);
    const std::string& diff_id = item.layer->diff_id;
    if (item.compression == layer::Compression::kNone && !diff_id.empty() && diff_id != item.layer->digest) {
      digests.push_back(diff_id);
    }
    if (!digests.empty()) verifier.add(item.blob, std::move(digests), item.layer->member);
  }
}

}  // namespace undocker
