// The decoded streams of an image's layers, each one's decoding started
// before the layer is applied. Decoding the bottom layer of a compressed
// image is the longest serial chain of a run (bench/RESULTS.md, session
// 5): it can start while the upper layers are scanned for the plan, and
// the next layer's decoder starts as soon as this one's has decoded its
// last byte, while this layer's last files are still being written.
// Memory stays bounded: besides the layer being applied, at most one
// source is open, with its own bounded read-ahead (layer/read_ahead.hpp).
#pragma once

#include <cstddef>
#include <memory>
#include <mutex>
#include <vector>

#include "pipeline/image_blobs.hpp"
#include "util/byte_source.hpp"

namespace undocker {

class LayerSources {
 public:
  /// `blobs` must outlive this object and every source it hands out.
  explicit LayerSources(const std::vector<LayerBlob>& blobs);
  ~LayerSources();  // stops the decoders of the sources never handed out
  LayerSources(const LayerSources&) = delete;
  LayerSources& operator=(const LayerSources&) = delete;

  /// Starts decoding layer `position` now; open() hands it out later.
  void start(std::size_t position);

  /// Layer `position`'s stream: the one started earlier, else a new one.
  /// When its decoder has decoded the last byte, it starts the next
  /// layer's. Call in layer order, one source at a time.
  std::unique_ptr<ByteSource> open(std::size_t position);

 private:
  std::unique_ptr<ByteSource> open_now(std::size_t position);

  const std::vector<LayerBlob>& blobs_;
  // Set by main's start() and open(), and by a decoder thread starting the
  // next layer's.
  std::mutex mutex_;
  std::vector<std::unique_ptr<ByteSource>> started_;  // by layer position
  bool closing_ = false;
};

}  // namespace undocker
