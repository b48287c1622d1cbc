#include "pipeline/directory_output.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <exception>
#include <chrono>
#include <cstring>
#include <optional>
#include <thread>

#include <fmt/format.h>

#include "fs/fd.hpp"
#include "fs/root.hpp"
#include "fs/writer.hpp"
#include "layer/apply.hpp"
#include "layer/blob_verifier.hpp"
#include "layer/decompress.hpp"
#include "layer/plan.hpp"
#include "layer/tree_filter.hpp"
#include "output/tar_sink.hpp"
#include "layer/verify.hpp"
#include "pipeline/image_blobs.hpp"
#include "pipeline/layer_sources.hpp"
#include "pipeline/plan_tree.hpp"
#include "pipeline/speculation.hpp"
#include "util/fd_source.hpp"
#include "util/error.hpp"
#include "util/knobs.hpp"
#include "util/log.hpp"
#include "util/progress.hpp"
#include "util/step_timer.hpp"

namespace undocker {

namespace {

// Which entries upper layers replace anyway (layer/plan.hpp): only for an
// output directory that started empty, and without -i.
struct Planning {
  std::vector<layer::LayerPlan> plans;                  // all layers uncompressed: decided up front
  std::unique_ptr<layer::StreamingPlanner> streaming;   // else: the bottom layer judged as it streams
};

// Inflating the upper layers an extra time to scan them pays off only when
// they are small beside the bottom layer (typically a base image plus a few
// build steps); this bounds the extra work to half the bottom layer's.
constexpr std::uint64_t kMaxUpperScanShare = 2;

Planning plan(const cli::Options& options, const std::vector<LayerBlob>& blobs, bool output_was_empty) {
  Planning planning;
  if (!output_was_empty || options.ignore_errors || knobs().no_plan || blobs.size() < 2) return planning;
  StepTimer timer("plan_layers");
  const bool all_uncompressed = std::all_of(blobs.begin(), blobs.end(), [](const LayerBlob& item) {
    return item.compression == layer::Compression::kNone;
  });
  std::vector<std::string> names;
  for (const LayerBlob& item : blobs) names.push_back(item.layer->member);
  if (all_uncompressed) {
    std::vector<Bytes> layers;
    for (const LayerBlob& item : blobs) layers.push_back(item.blob);
    planning.plans = layer::plan_layers(layers, names, !options.no_whiteouts);
    return planning;
  }
  std::uint64_t upper_compressed_bytes = 0;
  for (std::size_t i = 1; i < blobs.size(); ++i) {
    if (blobs[i].compression != layer::Compression::kNone) upper_compressed_bytes += blobs[i].blob.size();
  }
  // UNDOCKER_PLAN_ALWAYS (for tests): plan however small the layers.
  if (upper_compressed_bytes * kMaxUpperScanShare > blobs[0].blob.size() && !knobs().plan_always) {
    return planning;
  }
  std::vector<std::unique_ptr<ByteSource>> sources;
  std::vector<ByteSource*> upper;
  for (std::size_t i = 1; i < blobs.size(); ++i) {
    sources.push_back(layer::open_decompressed(blobs[i].blob, names[i]));
    upper.push_back(sources.back().get());
  }
  names.erase(names.begin());
  planning.streaming = layer::StreamingPlanner::scan_upper(upper, names, !options.no_whiteouts);
  return planning;
}

// Throws layer::PlanUndone when a skip of the streaming planner does not
// hold (found at an entry, or at the end of the bottom layer): the caller
// starts over without a plan.
// Layers below `first` are already in the tree (applied while a pipe
// arrived, pipeline/speculation.hpp).
void apply_layers(const cli::Options& options, const std::vector<LayerBlob>& blobs, fs::TreeWriter& writer,
                  Planning& planning, LayerSources& sources, UnpackSummary& summary, Progress& progress,
                  std::size_t first = 0) {
  layer::ApplyOptions apply_options{!options.no_whiteouts, options.ignore_errors};
  apply_options.uid_shift = options.uid_shift;
  apply_options.progress = &progress;
  for (std::size_t position = 0; position < first; ++position) {
    log(LogLevel::kInfo, "extracting layer {}", escape(blobs[position].layer->id));
  }
  for (std::size_t position = first; position < blobs.size(); ++position) {
    const LayerBlob& item = blobs[position];
    const image::Layer& layer = *item.layer;
    log(LogLevel::kInfo, "extracting layer {}", escape(layer.id));
    progress.begin_layer(position, layer.id);
    StepTimer timer("apply_layer");
    std::unique_ptr<ByteSource> source = sources.open(position);
    apply_options.estargz = item.compression == layer::Compression::kGzip;
    // A compressed layer's diffID covers the tar inside: hash it as it
    // streams by (an uncompressed blob is hashed by the BlobVerifier).
    std::unique_ptr<layer::HashingSource> hashing;
    if (options.verify && !layer.diff_id.empty() && item.compression != layer::Compression::kNone) {
      hashing = std::make_unique<layer::HashingSource>(*source);
    }
    ByteSource& input = hashing ? static_cast<ByteSource&>(*hashing) : *source;
    const std::vector<bool>* skip = position < planning.plans.size() ? &planning.plans[position].skip : nullptr;
    layer::StreamingPlanner* streaming = position == 0 ? planning.streaming.get() : nullptr;
    const layer::ApplyStats stats = layer::apply_layer(input, position, layer.member, writer, apply_options, skip, streaming);
    if (hashing) hashing->verify_rest(layer.diff_id, layer.member);
    if (streaming) planning.plans = streaming->finish();
    summary.entries += stats.entries;
    summary.bytes += stats.bytes;
    log(LogLevel::kDebug, "layer {}: {} ({} replaced by upper layers, not written), {}, {}", escape(layer.id),
        count_of(stats.entries, "entry", "entries"), stats.planned_away, count_of(stats.bytes, "byte"),
        count_of(stats.whiteouts, "whiteout"));
  }
  StepTimer timer("apply_fixups");
  writer.finish();
  progress.finish();
}

// The pipe between the stream and the writer, widened as the input spool's is.
constexpr int kPipeBytes = 1 << 20;

// -o with --path or --exclude: the plan of the final tree, filtered, is
// streamed as a pax tar (output/tar_sink) through a pipe by another thread
// and applied as one layer by the usual writer, so that the directory gets
// exactly the names the filter keeps, through the same door as ever.
// Whiteouts were resolved by the plan (with -W it kept the .wh.* names as
// files), and owners shifted there: the stream is applied as it is.
void apply_filtered_tree(const cli::Options& options, const std::vector<LayerBlob>& blobs, fs::TreeWriter& writer,
                         UnpackSummary& summary, Progress& progress) {
  const std::unique_ptr<PlannedTree> planned = plan_tree(options, blobs, LayerData::kKept);
  const layer::TreeFilter filter(planned->tree, options.paths, options.excludes);
  int ends[2];
  if (pipe2(ends, O_CLOEXEC) != 0) throw IoError(fmt::format("cannot make a pipe: {}", std::strerror(errno)));
  fs::Fd read_end(ends[0]);
  fs::Fd write_end(ends[1]);
  fcntl(write_end.get(), F_SETPIPE_SZ, kPipeBytes);  // a narrower pipe works too, only slower

  std::exception_ptr stream_failure;
  std::thread streamer([&] {
    try {
      output::write_tree_tar(planned->tree, planned->layers, write_end.get(), [] {}, filter);
    } catch (...) {
      stream_failure = std::current_exception();
    }
    write_end.reset();  // the end of the stream for the reader
  });
  // The stream's own failure explains a stream cut short: it comes first,
  // unless it is only the reader having gone away.
  auto stream_error_first = [&] {
    streamer.join();
    if (!stream_failure) return;
    try {
      std::rethrow_exception(stream_failure);
    } catch (const OutputClosed&) {
    }
  };
  layer::ApplyOptions apply_options{false, options.ignore_errors};
  apply_options.progress = &progress;
  layer::ApplyStats stats;
  progress.begin_layer(0, "filtered tree");
  try {
    FdSource source(read_end.get(), "the filtered tree");
    stats = layer::apply_layer(source, 0, "the filtered tree", writer, apply_options);
    while (!source.read_some(kPipeBytes).empty()) {
    }
  } catch (...) {
    read_end.reset();  // the streamer's next write fails: it ends
    stream_error_first();
    throw;
  }
  stream_error_first();
  summary.entries = stats.entries;
  summary.bytes = stats.bytes;
  StepTimer timer("apply_fixups");
  writer.finish();
  progress.finish();
}

}  // namespace

namespace {

// place for a plain run; guess (with the archive's mapping) after layers
// were applied while a pipe arrived.
UnpackSummary unpack(const cli::Options& options, const archive::MemberIndex& index,
                     const image::SelectedImage& selected, const std::vector<std::size_t>& layer_indices,
                     std::optional<fs::OutputPlace> place, Bytes archive, Speculation* guess) {
  const std::string output_dir = guess ? guess->destination().display() : place->display;
  const auto start = std::chrono::steady_clock::now();
  log(LogLevel::kInfo, "extracting image {} ({})", escape(selected.display_name), escape(selected.image->id));
  // Manifests and the config are small: check them before writing anything.
  if (options.verify_metadata) verify_metadata(index, *selected.image);
  const std::vector<LayerBlob> blobs = find_layer_blobs(index, *selected.image, layer_indices);
  UnpackSummary summary{selected.display_name, selected.image->id, output_dir, blobs.size(), 0, 0, 0};

  // Layers applied while a pipe arrived, if they are the image's first:
  // already checked, kept.
  const std::size_t guessed = guess ? guess->keep_or_discard(blobs, archive, options.verify) : 0;

  // Blob digests (and the diffID of an uncompressed blob, the same bytes)
  // are checked on another core while the layers are written.
  layer::BlobVerifier verifier;
  if (options.verify) queue_blob_digests({blobs.begin() + static_cast<std::ptrdiff_t>(guessed), blobs.end()}, verifier);
  verifier.start();

  // A progress line on a terminal; the total is known when no layer is
  // compressed (then entry bytes and blob bytes agree closely). One for
  // the whole run: after a restart it goes on counting.
  std::uint64_t total_bytes = 0;
  for (const LayerBlob& item : blobs) {
    total_bytes = item.compression == layer::Compression::kNone && total_bytes != UINT64_MAX
                      ? total_bytes + item.blob.size()
                      : UINT64_MAX;
  }
  Progress progress(total_bytes == UINT64_MAX ? 0 : total_bytes, blobs.size(),
                    isatty(STDERR_FILENO) && options.log_level != LogLevel::kError);

  const bool root = geteuid() == 0;
  std::optional<fs::OutputDir> own_destination;
  fs::OutputDir& destination = guess ? guess->destination() : own_destination.emplace(std::move(*place));
  try {
    std::optional<fs::RootDir> own_output;
    fs::RootDir& output = guessed > 0 ? guess->root() : own_output.emplace(destination.open_root(), output_dir);
    if (guessed > 0) {
      summary.entries = guess->entries();
      summary.bytes = guess->bytes();
      Planning none;
      LayerSources sources(blobs);
      apply_layers(options, blobs, guess->writer(), none, sources, summary, progress, guessed);
    } else if (!options.paths.empty() || !options.excludes.empty()) {
      const fs::WriterOptions writer_options{root, root, options.ignore_errors, writer_threads()};
      fs::TreeWriter writer(output, writer_options);
      apply_filtered_tree(options, blobs, writer, summary, progress);
    } else {
      // The bottom layer's decoder is the run's longest chain: it starts
      // before the plan's scan of the upper layers, not after.
      std::optional<LayerSources> sources(std::in_place, blobs);
      if (knobs().layer_ahead && !blobs.empty()) sources->start(0);
      Planning planning = plan(options, blobs, output.was_empty());
      const fs::WriterOptions writer_options{root, root, options.ignore_errors, writer_threads()};
      bool done = false;
      {
        fs::TreeWriter writer(output, writer_options);
        try {
          apply_layers(options, blobs, writer, planning, *sources, summary, progress);
          done = true;
        } catch (const layer::PlanUndone&) {
          done = false;
        }
      }
      if (!done) {
        // Rare (a later entry of the bottom layer needs a file it skipped):
        // the directory started empty, so empty it and apply every layer.
        log(LogLevel::kInfo, "the plan does not hold for layer {} (a later entry needs a file skipped because an "
            "upper layer replaces it): starting over, applying every layer in full", escape(blobs[0].layer->id));
        if (!fs::remove_children(output.fd())) {
          throw IoError(fmt::format("cannot empty {} to start over: {}", escape(output_dir), std::strerror(errno)));
        }
        output.forget_cache();
        summary.entries = summary.bytes = 0;
        Planning none;
        sources.reset();  // an upper layer's decoder may have started: stopped before another starts
        sources.emplace(blobs);
        fs::TreeWriter writer(output, writer_options);
        apply_layers(options, blobs, writer, none, *sources, summary, progress);
      }
    }
  } catch (const Error& error) {
    // The first error, or the mismatch of the blob being read, which
    // explains it (layer/blob_verifier.hpp).
    verifier.throw_instead_of(error);
    throw;
  }
  verifier.finish();
  // Complete and verified: only now does the tree get its final name.
  destination.commit();
  summary.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  log(LogLevel::kInfo, "extracted image {} ({}) into {}: {}, {}, {} in {:.2f} s", escape(summary.image),
      escape(summary.id), escape(summary.output), count_of(summary.layers, "layer"),
      count_of(summary.entries, "entry", "entries"), count_of(summary.bytes, "byte"), summary.seconds);
  return summary;
}

}  // namespace

UnpackSummary unpack_image(const cli::Options& options, const archive::MemberIndex& index,
                           const image::SelectedImage& selected, const std::vector<std::size_t>& layer_indices,
                           fs::OutputPlace place) {
  return unpack(options, index, selected, layer_indices, std::move(place), Bytes(), nullptr);
}

UnpackSummary unpack_image(const cli::Options& options, const archive::MemberIndex& index,
                           const image::SelectedImage& selected, const std::vector<std::size_t>& layer_indices,
                           Bytes archive, Speculation& guess) {
  return unpack(options, index, selected, layer_indices, std::nullopt, archive, &guess);
}

unsigned writer_threads() {
  if (const std::optional<unsigned> forced = knobs().threads) return *forced;
  const unsigned cores = std::thread::hardware_concurrency();
  return cores == 0 ? 1 : std::min(cores, 4u);
}

}  // namespace undocker
