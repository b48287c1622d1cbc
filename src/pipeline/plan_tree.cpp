#include "pipeline/plan_tree.hpp"

#include "layer/apply.hpp"
#include "layer/header_pipeline.hpp"
#include "layer/verify.hpp"
#include "util/log.hpp"
#include "util/step_timer.hpp"

namespace undocker {

std::unique_ptr<PlannedTree> plan_tree(const cli::Options& options, const std::vector<LayerBlob>& blobs,
                                       LayerData data,
                                       const std::function<void(std::size_t, const PlannedTree&)>& after_layer) {
  StepTimer timer("plan_tree");
  auto planned = std::make_unique<PlannedTree>();
  layer::ApplyOptions apply_options{!options.no_whiteouts, options.ignore_errors};
  apply_options.uid_shift = options.uid_shift;
  for (std::size_t position = 0; position < blobs.size(); ++position) {
    const LayerBlob& item = blobs[position];
    log(LogLevel::kInfo, "reading layer {}", escape(item.layer->id));
    const bool compressed = item.compression != layer::Compression::kNone;
    std::unique_ptr<ByteSource> source = layer::open_decompressed(item.blob, item.layer->member);
    ByteSource* input = source.get();
    if (compressed && data == LayerData::kKept) {
      planned->spools.push_back(std::make_unique<layer::SpoolingSource>(*input, item.layer->member));
      input = planned->spools.back().get();
    }
    apply_options.estargz = item.compression == layer::Compression::kGzip;
    std::unique_ptr<layer::HashingSource> hashing;
    if (options.verify && !item.layer->diff_id.empty() && compressed) {
      hashing = std::make_unique<layer::HashingSource>(*input);
      input = hashing.get();
    }
    // A large uncompressed layer has its headers read on a second thread.
    const layer::ApplyStats stats =
        !compressed && item.blob.size() >= layer::kHeaderPipelineBytes
            ? layer::apply_layer_headers(item.blob, position, item.layer->member, planned->tree, apply_options)
            : layer::apply_layer(*input, position, item.layer->member, planned->tree, apply_options);
    if (hashing) hashing->verify_rest(item.layer->diff_id, item.layer->member);
    planned->entries += stats.entries;
    planned->bytes += stats.bytes;
    Bytes stream = item.blob;
    if (compressed) stream = data == LayerData::kKept ? planned->spools.back()->finish() : Bytes();
    planned->layers.push_back(output::TarSinkLayer{stream, item.layer->member});
    if (after_layer) after_layer(position, *planned);
    // The decoder's buffers and thread go now, before the next layer's.
  }
  planned->tree.finish();
  return planned;
}

}  // namespace undocker
