// The selected image's blobs, as every output needs them: the manifest and
// config checked before anything is written, each selected layer found in
// the archive and sniffed for its compression, and the digests the
// BlobVerifier checks on another core while an output is written.
#pragma once

#include <optional>
#include <vector>

#include "archive/index.hpp"
#include "image/image.hpp"
#include "layer/blob_verifier.hpp"
#include "layer/decompress.hpp"
#include "util/bytes.hpp"
#include "util/file_range.hpp"

namespace undocker {

struct LayerBlob {
  const image::Layer* layer;
  Bytes blob;
  layer::Compression compression;
  std::optional<FileRange> file;  // where blob lies in the archive's file, when known
};

/// Checks the manifest and config digests (small: before anything is
/// written). Throws DigestError or FormatError.
void verify_metadata(const archive::MemberIndex& index, const image::Image& image);

/// Every selected layer's blob, found before anything is written. Throws
/// FormatError naming a layer that is not in the archive.
std::vector<LayerBlob> find_layer_blobs(const archive::MemberIndex& index, const image::Image& image,
                                        const std::vector<std::size_t>& layer_indices);

/// Queues on verifier what hashing the blobs themselves checks: each blob
/// digest, and the diffID of an uncompressed blob (the same bytes). The
/// diffID of a compressed blob is checked while it is decoded.
void queue_blob_digests(const std::vector<LayerBlob>& blobs, layer::BlobVerifier& verifier);

}  // namespace undocker
