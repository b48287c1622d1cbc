// LayerSources: every layer's stream, whole and in order, whether its
// decoder was started early, by the layer below, or on demand; and no
// decoder thread left behind (threads are told apart by their names).
#include <doctest/doctest.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "image/image.hpp"
#include "layer/decompress.hpp"
#include "pipeline/layer_sources.hpp"
#include "support/compress.hpp"
#include "util/knobs.hpp"

namespace undocker {

namespace {

using Buffer = std::vector<std::uint8_t>;

// Incompressible: a gzip blob of this is as large, over the 1 MiB above
// which a layer is decoded on a thread of its own.
Buffer random_bytes(std::size_t size, std::uint32_t seed) {
  std::mt19937 random(seed);
  Buffer out(size);
  for (std::uint8_t& byte : out) byte = static_cast<std::uint8_t>(random());
  return out;
}

// Layers of an image: the tar streams (any bytes will do here) and their
// blobs, gzipped or as they are.
struct Stack {
  std::vector<Buffer> streams;
  std::vector<Buffer> blobs;
  std::vector<image::Layer> layers;
  std::vector<LayerBlob> items;

  void add(Buffer stream, bool gzipped) {
    streams.push_back(std::move(stream));
    blobs.push_back(gzipped ? test::gzip_compress(streams.back(), 1) : streams.back());
    image::Layer layer;
    layer.id = "layer" + std::to_string(layers.size());
    layer.member = "blobs/" + std::to_string(layers.size());
    layers.push_back(layer);
  }
  const std::vector<LayerBlob>& finish() {
    for (std::size_t i = 0; i < blobs.size(); ++i) {
      items.push_back(LayerBlob{&layers[i], blobs[i], layer::detect_compression(blobs[i]), std::nullopt});
    }
    return items;
  }
};

Buffer read_all(ByteSource& source) {
  Buffer out;
  for (Bytes piece = source.read_some(1 << 20); !piece.empty(); piece = source.read_some(1 << 20)) {
    out.insert(out.end(), piece.begin(), piece.end());
  }
  return out;
}

std::size_t decoder_threads() {
  std::size_t count = 0;
  for (const auto& task : std::filesystem::directory_iterator("/proc/self/task")) {
    std::ifstream comm(task.path() / "comm");
    std::string name;
    std::getline(comm, name);
    if (name == "undocker-decode") ++count;
  }
  return count;
}

// Threads end a little after the join that waits for them has returned
// (the kernel removes the task last): poll, for up to a minute.
bool decoder_threads_become(std::size_t count) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (decoder_threads() != count) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

class LayerAheadKnob {
 public:
  explicit LayerAheadKnob(bool on) : saved_(knobs()) {
    Knobs changed = saved_;
    changed.layer_ahead = on;
    set_knobs(changed);
  }
  ~LayerAheadKnob() { set_knobs(saved_); }
  LayerAheadKnob(const LayerAheadKnob&) = delete;
  LayerAheadKnob& operator=(const LayerAheadKnob&) = delete;

 private:
  Knobs saved_;
};

constexpr std::size_t kMiB = std::size_t{1} << 20;

// A bottom and an upper layer of random bytes, both gzipped.
const std::vector<LayerBlob>& two_gzipped_layers(Stack& stack, std::size_t bottom_bytes, std::size_t upper_bytes) {
  stack.add(random_bytes(bottom_bytes, 1), true);
  stack.add(random_bytes(upper_bytes, 2), true);
  return stack.finish();
}

}  // namespace

TEST_SUITE_BEGIN("pipeline::layer_sources");

TEST_CASE("LayerSources hands out every layer's whole stream, in order") {
  Stack stack;
  stack.add(random_bytes(3 * kMiB, 1), true);
  stack.add(random_bytes(2 * kMiB, 2), true);
  stack.add(random_bytes(1000, 3), false);
  stack.add(random_bytes(1000, 4), true);  // small: decoded inline
  stack.add(random_bytes(2 * kMiB, 5), true);
  const std::vector<LayerBlob>& blobs = stack.finish();
  for (bool ahead : {true, false}) {
    for (bool start_bottom : {true, false}) {
      CAPTURE(ahead);
      CAPTURE(start_bottom);
      const LayerAheadKnob knob(ahead);
      LayerSources sources(blobs);
      if (start_bottom) sources.start(0);
      for (std::size_t position = 0; position < blobs.size(); ++position) {
        CAPTURE(position);
        std::unique_ptr<ByteSource> source = sources.open(position);
        CHECK(read_all(*source) == stack.streams[position]);
      }
    }
  }
}

TEST_CASE("LayerSources starts the next layer's decoder when a layer is decoded, unless turned off") {
  Stack stack;
  // The upper layer is more than its read-ahead: its decoder waits for a reader.
  const std::vector<LayerBlob>& blobs = two_gzipped_layers(stack, 2 * kMiB, 12 * kMiB);
  REQUIRE(decoder_threads_become(0));
  for (bool ahead : {true, false}) {
    CAPTURE(ahead);
    const LayerAheadKnob knob(ahead);
    LayerSources sources(blobs);
    {
      std::unique_ptr<ByteSource> bottom = sources.open(0);
      CHECK(read_all(*bottom) == stack.streams[0]);
    }
    // The bottom layer's decoder is gone; the upper one's runs (ahead) or
    // does not exist yet.
    CHECK(decoder_threads_become(ahead ? 1 : 0));
    std::unique_ptr<ByteSource> upper = sources.open(1);
    CHECK(decoder_threads_become(1));
    CHECK(read_all(*upper) == stack.streams[1]);
  }
  CHECK(decoder_threads_become(0));
}

TEST_CASE("a bottom layer decoded before it is asked for is still handed out whole") {
  // Its decoder finishes (and starts the next layer's) while the source
  // waits, unread, for open().
  Stack stack;
  const std::vector<LayerBlob>& blobs = two_gzipped_layers(stack, 2 * kMiB, 12 * kMiB);
  const LayerAheadKnob knob(true);
  REQUIRE(decoder_threads_become(0));
  LayerSources sources(blobs);
  sources.start(0);
  REQUIRE(decoder_threads_become(1));  // the bottom one has ended; the next one waits for a reader
  std::unique_ptr<ByteSource> bottom = sources.open(0);
  CHECK(read_all(*bottom) == stack.streams[0]);
  bottom.reset();
  std::unique_ptr<ByteSource> upper = sources.open(1);
  CHECK(read_all(*upper) == stack.streams[1]);
}

TEST_CASE("destroying LayerSources stops the decoders of layers never asked for") {
  Stack stack;
  const std::vector<LayerBlob>& blobs = two_gzipped_layers(stack, 12 * kMiB, 12 * kMiB);
  const LayerAheadKnob knob(true);
  REQUIRE(decoder_threads_become(0));
  {
    LayerSources sources(blobs);
    sources.start(0);
    sources.start(1);
    CHECK(decoder_threads_become(2));
  }
  CHECK(decoder_threads_become(0));
}

TEST_SUITE_END();

}  // namespace undocker
