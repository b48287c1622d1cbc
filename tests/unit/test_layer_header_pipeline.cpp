// Headers read on a second thread (layer/header_pipeline) against the
// plain apply_layer: the same plan, the same first error, on random layer
// stacks long enough to span many batches.
#include <doctest/doctest.h>

#include <optional>
#include <random>
#include <string>
#include <vector>

#include "layer/apply.hpp"
#include "layer/final_tree.hpp"
#include "layer/header_pipeline.hpp"
#include "support/random_layers.hpp"
#include "util/error.hpp"

namespace undocker::layer {

namespace {

struct Outcome {
  std::vector<std::string> lines;  // every name of the plan with what --files and --tar read of it
  std::string error;               // the first error, if any
};

Outcome plan_of(const std::vector<test::TarBuilder>& layers, bool pipelined) {
  Outcome outcome;
  FinalTree tree;
  try {
    for (std::size_t index = 0; index < layers.size(); ++index) {
      const Bytes stream(layers[index].bytes().data(), layers[index].bytes().size());
      if (pipelined) {
        apply_layer_headers(stream, index, "layer", tree, ApplyOptions{});
      } else {
        MemorySource source(stream);
        apply_layer(source, index, "layer", tree, ApplyOptions{});
      }
    }
    tree.finish();
  } catch (const Error& error) {
    outcome.error = error.what();
    return outcome;
  }
  tree.walk([&](const std::string& path, std::uint32_t id) {
    const TreeInode& inode = tree.inode(id);
    outcome.lines.push_back(path + " " + std::to_string(static_cast<int>(inode.type)) + " " +
                            std::to_string(inode.mode) + " " + std::to_string(inode.mtime.seconds) + " " +
                            inode.link_target + " " + std::to_string(inode.layer) + " " +
                            std::to_string(inode.data_offset) + " " + std::to_string(inode.stored_bytes));
  });
  return outcome;
}

}  // namespace

TEST_SUITE_BEGIN("layer::header_pipeline");

TEST_CASE("headers read on a second thread give the plan and the first error of apply_layer") {
  std::mt19937 random(14);
  int planned = 0;
  int failed = 0;
  for (int round = 0; round < 150; ++round) {
    CAPTURE(round);
    // Up to 3000 entries a layer: several batches, and a last one cut short.
    const std::vector<test::TarBuilder> layers = test::random_layers(random, round % 3 == 0 ? 3000 : 40);
    const Outcome plain = plan_of(layers, false);
    const Outcome pipelined = plan_of(layers, true);
    CHECK(pipelined.error == plain.error);
    CHECK(pipelined.lines == plain.lines);
    if (plain.error.empty()) ++planned;
    else ++failed;
  }
  CHECK(planned > 5);
  CHECK(failed > 5);
}

TEST_CASE("a large two-layer image with whiteouts and opaque directories plans the same both ways") {
  std::vector<test::TarBuilder> layers(2);
  for (int i = 0; i < 5000; ++i) {
    std::string dir = "d";
    dir += std::to_string(i % 40);
    if (i < 40) layers[0].directory(dir + "/", 0750);
    std::string name = dir;
    name += "/f";
    name += std::to_string(i);
    if (i % 7 == 0) layers[0].symlink(name, "../d0/f0");
    else layers[0].file(name, std::string(static_cast<std::size_t>(i % 900), 'x'));
  }
  layers[0].end();
  for (int i = 0; i < 3000; i += 3) {
    std::string name = "d";
    name += std::to_string(i % 40);
    name += "/.wh.f";
    name += std::to_string(i);
    layers[1].file(name, "");
  }
  layers[1].file("d5/.wh..wh..opq", "").file("d5/new", "fresh").end();
  const Outcome plain = plan_of(layers, false);
  const Outcome pipelined = plan_of(layers, true);
  REQUIRE(plain.error.empty());
  CHECK(pipelined.error.empty());
  CHECK(plain.lines.size() > 3900);  // 5000 names and 40 directories, less what was whited out
  CHECK(pipelined.lines == plain.lines);
}

TEST_CASE("a malformed header after good entries: those entries are applied, then its error") {
  test::TarBuilder layer;
  for (int i = 0; i < 1500; ++i) {
    std::string name = "f";
    name += std::to_string(i);
    layer.file(name, "x");
  }
  layer.raw(std::string(512, 'z'));  // no valid checksum
  const Bytes stream(layer.bytes().data(), layer.bytes().size());
  FinalTree plain_tree;
  FinalTree pipelined_tree;
  MemorySource source(stream);
  std::string plain_error;
  std::string pipelined_error;
  try {
    apply_layer(source, 0, "layer", plain_tree, ApplyOptions{});
  } catch (const Error& error) {
    plain_error = error.what();
  }
  try {
    apply_layer_headers(stream, 0, "layer", pipelined_tree, ApplyOptions{});
  } catch (const Error& error) {
    pipelined_error = error.what();
  }
  CHECK(pipelined_error.find("checksum") != std::string::npos);
  CHECK(pipelined_error == plain_error);
  CHECK(pipelined_tree.lookup("f1499", false).found);
}

TEST_SUITE_END();

}  // namespace undocker::layer
