// --layer-store STORE: each layer of the selected image (of every image,
// with --all) written once into STORE/sha256/<chainID hex>/ as an
// overlayfs lower directory (fs/layer_store, layer/layer_diff), and one
// line per image on stdout: `lowerdir=TOP:...:BOTTOM`, ready for
// `mount -t overlay overlay -o lowerdir=...`.
//
// When every layer of an image is already complete in STORE, no layer is
// read: the ChainIDs come from the config's diffIDs, and the config is
// checked against the manifest's digest (unless --no-verify). Otherwise the
// layers are planned in memory (layer/final_tree) one after another, each
// missing layer's directory is written from the difference between the
// plans before and after it, and the directories are completed (renamed
// into place) only once every digest matched.
#pragma once

#include "archive/index.hpp"
#include "cli/options.hpp"
#include "image/image.hpp"
#include "image/select.hpp"

namespace undocker {

/// Stores the selected image's layers and prints its line.
void store_image_layers(const cli::Options& options, const archive::MemberIndex& index,
                        const image::SelectedImage& selected);

/// --all: every image (one platform each, chosen as for one image), in
/// archive order; layers shared by several are written once.
void store_all_images(const cli::Options& options, const archive::MemberIndex& index,
                      const image::ImageArchive& images);

}  // namespace undocker
