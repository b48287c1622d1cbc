#include "pipeline/layer_store_output.hpp"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <optional>

#include <fmt/format.h>

#include "fs/layer_dir_writer.hpp"
#include "fs/layer_store.hpp"
#include "layer/blob_verifier.hpp"
#include "layer/chain_id.hpp"
#include "layer/final_tree.hpp"
#include "layer/layer_diff.hpp"
#include "output/json_report.hpp"
#include "pipeline/image_blobs.hpp"
#include "pipeline/plan_tree.hpp"
#include "util/error.hpp"
#include "util/log.hpp"
#include "util/step_timer.hpp"

namespace undocker {

namespace {

// A path in overlayfs's lowerdir list: ':' separates layers and ',' mount
// options; both, and '\', are escaped with '\', which overlayfs undoes.
std::string lowerdir_item(std::string_view path) {
  std::string escaped;
  for (char c : path) {
    if (c == ':' || c == ',' || c == '\\') escaped += '\\';
    escaped += c;
  }
  return escaped;
}

struct StoredLayer {
  std::string diff_id;
  std::string chain_id;
  std::string path;
  bool written = false;
};

void print_result(const cli::Options& options, const image::SelectedImage& selected,
                  const std::vector<StoredLayer>& layers, const fs::LayerStore& store, double seconds) {
  std::string lowerdir = "lowerdir=";
  for (auto layer = layers.rbegin(); layer != layers.rend(); ++layer) {
    if (layer != layers.rbegin()) lowerdir += ':';
    lowerdir += lowerdir_item(layer->path);
  }
  // Without an upper directory overlayfs wants two lower ones.
  if (layers.size() == 1) {
    lowerdir += ':';
    lowerdir += lowerdir_item(store.empty_dir());
  }
  std::string line = lowerdir;
  if (options.json) {
    std::string items;
    for (const StoredLayer& layer : layers) {
      if (!items.empty()) items += ',';
      items += fmt::format(R"({{"diff_id":{},"chain_id":{},"path":{},"written":{}}})", output::json_string(layer.diff_id),
                           output::json_string(layer.chain_id), output::json_string(layer.path), layer.written);
    }
    line = fmt::format(R"({{"image":{},"id":{},"lowerdir":{},"layers":[{}],"seconds":{:.3f}}})",
                       output::json_string(selected.display_name), output::json_string(selected.image->id),
                       output::json_string(lowerdir), items, seconds);
  }
  line += '\n';
  std::fwrite(line.data(), 1, line.size(), stdout);
  std::fflush(stdout);
}

void store_one(const cli::Options& options, const archive::MemberIndex& index, const image::SelectedImage& selected,
               fs::LayerStore& store) {
  const auto start = std::chrono::steady_clock::now();
  const image::Image& image = *selected.image;
  log(LogLevel::kInfo, "storing the layers of image {} ({})", escape(selected.display_name), escape(image.id));
  if (options.verify_metadata) verify_metadata(index, image);
  std::vector<std::string> diff_ids;
  for (std::size_t i = 0; i < image.layers.size(); ++i) {
    if (image.layers[i].diff_id.empty()) {
      throw FormatError(fmt::format("image {}: no diffID for layer {} in its config; --layer-store names layers by "
                                    "their ChainIDs, which are made of diffIDs",
                                    escape(selected.display_name), i));
    }
    diff_ids.push_back(image.layers[i].diff_id);
  }
  const std::vector<std::string> chain = layer::chain_ids(diff_ids, selected.display_name);
  std::vector<StoredLayer> stored;
  std::vector<bool> missing;
  for (std::size_t i = 0; i < chain.size(); ++i) {
    const std::string hex = chain[i].substr(std::string_view("sha256:").size());
    stored.push_back(StoredLayer{diff_ids[i], chain[i], store.path_of(hex), false});
    missing.push_back(!store.has(hex));
  }
  if (std::find(missing.begin(), missing.end(), true) != missing.end()) {
    std::vector<std::size_t> all(image.layers.size());
    for (std::size_t i = 0; i < all.size(); ++i) all[i] = i;
    const std::vector<LayerBlob> blobs = find_layer_blobs(index, image, all);
    layer::BlobVerifier verifier;
    if (options.verify) queue_blob_digests(blobs, verifier);
    verifier.start();
    std::vector<std::unique_ptr<fs::LayerStore::Staging>> staged;
    std::vector<std::size_t> staged_positions;
    try {
      fs::LayerDirOptions dir_options;
      dir_options.set_owner = geteuid() == 0;
      dir_options.overlay_prefix = options.userxattr ? "user.overlay." : "trusted.overlay.";
      dir_options.opaque_xattr = dir_options.overlay_prefix + "opaque";
      // The finished plan of the layers below the one just applied.
      std::optional<layer::FinalTree> below;
      const std::unique_ptr<PlannedTree> planned =
          plan_tree(options, blobs, LayerData::kKept, [&](std::size_t position, const PlannedTree& plan) {
            layer::FinalTree merged = plan.tree;
            merged.finish();
            if (missing[position]) {
              StepTimer timer("write_layer_dir");
              const std::vector<layer::LayerDirEntry> entries =
                  layer::layer_difference(below ? *below : layer::FinalTree(), merged);
              std::vector<Bytes> streams;
              std::vector<std::string> members;
              for (const output::TarSinkLayer& item : plan.layers) {
                streams.push_back(item.stream);
                members.push_back(item.member);
              }
              const std::string hex = chain[position].substr(std::string_view("sha256:").size());
              log(LogLevel::kInfo, "writing layer {} to {}", escape(image.layers[position].id),
                  escape(store.display_of(hex)));
              auto staging = std::make_unique<fs::LayerStore::Staging>(store, hex);
              fs::write_layer_dir(staging->fd(), merged, entries, streams, members, dir_options);
              staged.push_back(std::move(staging));
              staged_positions.push_back(position);
            }
            below = std::move(merged);
          });
      // Complete only once every digest matched, bottom first.
      verifier.finish();
    } catch (const Error& error) {
      verifier.throw_instead_of(error);
      throw;
    }
    for (std::size_t i = 0; i < staged.size(); ++i) {
      stored[staged_positions[i]].written = staged[i]->commit();
      if (!stored[staged_positions[i]].written) {
        log(LogLevel::kInfo, "layer {} was completed by another run meanwhile: using that one",
            escape(chain[staged_positions[i]]));
      }
    }
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const auto written = std::count_if(stored.begin(), stored.end(), [](const StoredLayer& layer) { return layer.written; });
  log(LogLevel::kInfo, "stored image {} ({}): {} layers, {} written, {} reused, in {:.2f} s",
      escape(selected.display_name), escape(image.id), stored.size(), written,
      static_cast<long>(stored.size()) - written, seconds);
  print_result(options, selected, stored, store, seconds);
}

}  // namespace

void store_image_layers(const cli::Options& options, const archive::MemberIndex& index,
                        const image::SelectedImage& selected) {
  fs::LayerStore store(options.layer_store);
  store_one(options, index, selected, store);
}

void store_all_images(const cli::Options& options, const archive::MemberIndex& index,
                      const image::ImageArchive& images) {
  std::vector<std::size_t> groups;
  for (const image::Image& image : images.images) {
    if (std::find(groups.begin(), groups.end(), image.group) == groups.end()) groups.push_back(image.group);
  }
  // Every image is chosen before anything is written.
  std::vector<image::ImageArchive> singles(groups.size());
  std::vector<image::SelectedImage> selected;
  for (std::size_t g = 0; g < groups.size(); ++g) {
    singles[g].format = images.format;
    for (const image::Image& image : images.images) {
      if (image.group == groups[g]) singles[g].images.push_back(image);
    }
    selected.push_back(image::select_image(singles[g], std::nullopt, options.platform));
  }
  fs::LayerStore store(options.layer_store);
  for (const image::SelectedImage& one : selected) store_one(options, index, one, store);
}

}  // namespace undocker
