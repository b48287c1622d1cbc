// The plan of the selected layers' final tree (layer/final_tree), as every
// output that is not the plain directory writer reads it: --tar, --files,
// --cat, and -o with --path or --exclude.
#pragma once

#include <functional>
#include <memory>
#include <vector>

#include "cli/options.hpp"
#include "layer/decoded_spool.hpp"
#include "layer/final_tree.hpp"
#include "output/tar_sink.hpp"
#include "pipeline/image_blobs.hpp"

namespace undocker {

struct PlannedTree {
  layer::FinalTree tree;
  /// Each selected layer's uncompressed tar stream, for reading file data
  /// again: a view of the mapped archive; for a compressed layer, of its
  /// decoded copy when the data was kept, else empty.
  std::vector<output::TarSinkLayer> layers;
  std::uint64_t entries = 0;
  std::uint64_t bytes = 0;
  std::vector<std::unique_ptr<layer::SpoolingSource>> spools;  // the decoded copies
};

enum class LayerData {
  kKept,         // compressed layers are decoded once and kept (layer/decoded_spool)
  kHeadersOnly,  // compressed layers are decoded for their headers and dropped
};

/// Applies the layers in memory by the rules the directory writer follows
/// (-W, -i, --uid-shift). Only headers are read: no data of an uncompressed
/// layer is touched. With options.verify, a compressed layer's diffID is
/// checked as it is decoded (the BlobVerifier hashes the blobs).
/// after_layer, when given, runs after each layer is applied (and its
/// stream is in `layers`), before the directory metadata is: with the
/// 0-based position of that layer.
std::unique_ptr<PlannedTree> plan_tree(const cli::Options& options, const std::vector<LayerBlob>& blobs,
                                       LayerData data,
                                       const std::function<void(std::size_t, const PlannedTree&)>& after_layer = {});

}  // namespace undocker
