#include "unpack.hpp"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <optional>
#include <thread>

#include <fmt/format.h>

#include "fs/root.hpp"
#include "fs/writer.hpp"
#include "layer/apply.hpp"
#include "layer/blob_verifier.hpp"
#include "layer/decompress.hpp"
#include "layer/plan.hpp"
#include "layer/verify.hpp"
#include "util/error.hpp"
#include "util/log.hpp"
#include "util/progress.hpp"
#include "util/step_timer.hpp"

namespace undocker {

namespace {

// Workers that finish files (data, owner, mode, mtime) while the main
// thread parses and creates names. UNDOCKER_THREADS overrides, for bench/.
unsigned writer_threads() {
  if (const char* forced = std::getenv("UNDOCKER_THREADS")) return static_cast<unsigned>(std::atoi(forced));
  const unsigned cores = std::thread::hardware_concurrency();
  return cores == 0 ? 1 : std::min(cores, 4u);
}

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

struct LayerBlob {
  const image::Layer* layer;
  Bytes blob;
  layer::Compression compression;
};

// Every selected layer's blob, found before anything is written.
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
    blobs.push_back(LayerBlob{&layer, blob, layer::detect_compression(blob)});
  }
  return blobs;
}

// Which entries upper layers replace anyway (layer/plan.hpp). Only for
// uncompressed layers (read twice from the mapping at no cost), an empty
// output directory, and without -i.
std::vector<layer::LayerPlan> plan(const cli::Options& options, const std::vector<LayerBlob>& blobs,
                                   bool output_was_empty) {
  if (!output_was_empty || options.ignore_errors || std::getenv("UNDOCKER_NO_PLAN")) return {};
  std::vector<Bytes> layers;
  std::vector<std::string> names;
  for (const LayerBlob& item : blobs) {
    if (item.compression != layer::Compression::kNone) return {};
    layers.push_back(item.blob);
    names.push_back(item.layer->member);
  }
  StepTimer timer("plan_layers");
  return layer::plan_layers(layers, names, !options.no_whiteouts);
}

void apply_layers(const cli::Options& options, const std::vector<LayerBlob>& blobs, fs::TreeWriter& writer,
                  const std::vector<layer::LayerPlan>& plans, UnpackSummary& summary) {
  layer::ApplyOptions apply_options{!options.no_whiteouts, options.ignore_errors};
  apply_options.uid_shift = options.uid_shift;
  // A progress line on a terminal; the total is known when no layer is
  // compressed (then entry bytes and blob bytes agree closely).
  std::uint64_t total_bytes = 0;
  for (const LayerBlob& item : blobs) {
    total_bytes = item.compression == layer::Compression::kNone && total_bytes != UINT64_MAX
                      ? total_bytes + item.blob.size()
                      : UINT64_MAX;
  }
  Progress progress(total_bytes == UINT64_MAX ? 0 : total_bytes, blobs.size(),
                    isatty(STDERR_FILENO) && options.log_level != LogLevel::kError);
  apply_options.progress = &progress;
  for (std::size_t position = 0; position < blobs.size(); ++position) {
    const LayerBlob& item = blobs[position];
    const image::Layer& layer = *item.layer;
    log(LogLevel::kInfo, "extracting layer {}", escape(layer.id));
    progress.begin_layer(position, layer.id);
    StepTimer timer("apply_layer");
    std::unique_ptr<layer::ByteSource> source = layer::open_decompressed(item.blob, layer.member);
    apply_options.estargz = item.compression == layer::Compression::kGzip;
    // A compressed layer's diffID covers the tar inside: hash it as it
    // streams by (an uncompressed blob is hashed by the BlobVerifier).
    std::unique_ptr<layer::HashingSource> hashing;
    if (options.verify && !layer.diff_id.empty() && item.compression != layer::Compression::kNone) {
      hashing = std::make_unique<layer::HashingSource>(*source);
    }
    layer::ByteSource& input = hashing ? static_cast<layer::ByteSource&>(*hashing) : *source;
    const std::vector<bool>* skip = plans.empty() ? nullptr : &plans[position].skip;
    const layer::ApplyStats stats = layer::apply_layer(input, layer.member, writer, apply_options, skip);
    if (hashing) hashing->verify_rest(layer.diff_id, layer.member);
    summary.entries += stats.entries;
    summary.bytes += stats.bytes;
    log(LogLevel::kDebug, "layer {}: {} entries ({} replaced by upper layers, not written), {} bytes, {} whiteouts",
        escape(layer.id), stats.entries, stats.planned_away, stats.bytes, stats.whiteouts);
  }
  StepTimer timer("apply_fixups");
  writer.finish();
  progress.finish();
}

}  // namespace

UnpackSummary unpack_image(const cli::Options& options, const archive::MemberIndex& index,
                           const image::SelectedImage& selected, const std::vector<std::size_t>& layer_indices,
                           const std::string& output_dir) {
  const auto start = std::chrono::steady_clock::now();
  log(LogLevel::kInfo, "extracting image {} ({})", escape(selected.display_name), escape(selected.image->id));
  // Manifests and the config are small: check them before writing anything.
  if (options.verify) verify_metadata(index, *selected.image);
  const std::vector<LayerBlob> blobs = find_layer_blobs(index, *selected.image, layer_indices);
  UnpackSummary summary{selected.display_name, selected.image->id, output_dir, blobs.size(), 0, 0, 0};

  // Blob digests (and the diffID of an uncompressed blob, the same bytes)
  // are checked on another core while the layers are written.
  layer::BlobVerifier verifier;
  if (options.verify) {
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
  verifier.start();

  const bool root = geteuid() == 0;
  try {
    fs::RootDir output(output_dir);
    const std::vector<layer::LayerPlan> plans = plan(options, blobs, output.was_empty());
    fs::TreeWriter writer(output, fs::WriterOptions{root, root, options.ignore_errors, writer_threads()});
    apply_layers(options, blobs, writer, plans, summary);
  } catch (const Error&) {
    // A corrupt blob explains whatever failed while reading it.
    if (std::optional<std::string> mismatch = verifier.wait()) throw DigestError(*mismatch);
    throw;
  }
  verifier.finish();
  summary.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  log(LogLevel::kInfo, "extracted image {} ({}) into {}: {} layers, {} entries, {} bytes in {:.2f} s",
      escape(summary.image), escape(summary.id), escape(summary.output), summary.layers, summary.entries,
      summary.bytes, summary.seconds);
  return summary;
}

}  // namespace undocker
