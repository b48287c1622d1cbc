#include "pipeline/layer_sources.hpp"

#include <functional>
#include <utility>

#include "layer/decompress.hpp"
#include "util/knobs.hpp"

namespace undocker {

// A source is never destroyed under mutex_: that joins its decoder thread,
// which may be waiting for mutex_ to start the next layer.

LayerSources::LayerSources(const std::vector<LayerBlob>& blobs) : blobs_(blobs), started_(blobs.size()) {}

LayerSources::~LayerSources() {
  std::vector<std::unique_ptr<ByteSource>> started;
  {
    std::lock_guard lock(mutex_);
    closing_ = true;  // a decoder finishing now starts nothing more
    started.swap(started_);
  }
}

void LayerSources::start(std::size_t position) {
  {
    std::lock_guard lock(mutex_);
    if (closing_) return;
  }
  std::unique_ptr<ByteSource> source = open_now(position);
  std::lock_guard lock(mutex_);
  if (!closing_) started_[position].swap(source);
}

std::unique_ptr<ByteSource> LayerSources::open(std::size_t position) {
  std::unique_ptr<ByteSource> started;
  {
    std::lock_guard lock(mutex_);
    started.swap(started_[position]);
  }
  return started != nullptr ? std::move(started) : open_now(position);
}

std::unique_ptr<ByteSource> LayerSources::open_now(std::size_t position) {
  const LayerBlob& item = blobs_[position];
  std::function<void()> start_next;
  if (position + 1 < blobs_.size() && knobs().layer_ahead) {
    // Runs on this layer's decoder thread, which the source's destructor
    // joins: this object outlives it.
    start_next = [this, position] {
      try {
        start(position + 1);
      } catch (...) {
        // Out of memory or threads: open() tries again, and reports it.
      }
    };
  }
  return layer::open_decompressed(item.blob, item.layer->member, std::move(start_next));
}

}  // namespace undocker
