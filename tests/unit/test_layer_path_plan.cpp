// The plan of one path (--cat) against the whole plan: on random layer
// stacks of files, directories, symlinks (relative, absolute, climbing,
// looping), hardlinks, whiteouts and opaque markers, whatever the path plan
// finds as a regular file must be exactly what the whole plan finds there.
#include <doctest/doctest.h>

#include <optional>
#include <random>
#include <string>
#include <vector>

#include "layer/apply.hpp"
#include "layer/final_tree.hpp"
#include "layer/path_plan.hpp"
#include "support/random_layers.hpp"
#include "support/tar_builder.hpp"
#include "util/error.hpp"

namespace undocker::layer {

namespace {

using test::TarBuilder;
using test::random_layers;
using test::random_path;
using test::random_target;

std::optional<FinalTree> whole_plan(const std::vector<TarBuilder>& layers) {
  FinalTree tree;
  try {
    for (std::size_t index = 0; index < layers.size(); ++index) {
      MemorySource source(Bytes(layers[index].bytes().data(), layers[index].bytes().size()));
      apply_layer(source, index, "layer", tree, ApplyOptions{});
    }
  } catch (const Error&) {
    return std::nullopt;  // the whole plan fails: --cat reports that error
  }
  tree.finish();
  return tree;
}

}  // namespace

TEST_SUITE_BEGIN("layer::path_plan");

TEST_CASE("the plan of one path finds exactly the file the whole plan finds, on random layer stacks") {
  std::mt19937 random(20261129);
  int files_found = 0;
  int whole_plans = 0;
  for (int round = 0; round < 6000; ++round) {
    const std::vector<TarBuilder> layers = random_layers(random);
    const std::optional<FinalTree> whole = whole_plan(layers);
    if (!whole) continue;
    ++whole_plans;
    std::vector<PathPlanLayer> plan_layers;
    for (const TarBuilder& layer : layers) {
      plan_layers.push_back(PathPlanLayer{Bytes(layer.bytes().data(), layer.bytes().size()), "layer"});
    }
    // Every name of the final tree, and paths through symlinks.
    std::vector<std::string> queries;
    whole->walk([&](const std::string& name, std::uint32_t) { queries.push_back(name); });
    for (int extra = 0; extra < 4; ++extra) queries.push_back(random_target(random));
    for (const std::string& path : queries) {
      const FinalTree::Lookup expected = whole->lookup(path, true);
      // Once read by one thread, once with every layer split between two.
      for (const std::size_t split : {kSplitLayerBytes, std::size_t{512}}) {
        CAPTURE(round);
        CAPTURE(path);
        std::unique_ptr<FinalTree> planned;
        REQUIRE_NOTHROW(planned = plan_for_path(plan_layers, path, ApplyOptions{}, split));
        if (!planned) continue;
        const FinalTree::Lookup found = planned->lookup(path, true);
        if (!found.found || planned->inode(found.inode).type != tar::EntryType::kFile) continue;
        // What --cat would print must be the whole plan's file.
        REQUIRE(expected.found);
        const TreeInode& want = whole->inode(expected.inode);
        const TreeInode& got = planned->inode(found.inode);
        CHECK(want.type == tar::EntryType::kFile);
        CHECK(found.clean_path == expected.clean_path);
        CHECK(got.layer == want.layer);
        CHECK(got.data_offset == want.data_offset);
        CHECK(got.stored_bytes == want.stored_bytes);
        CHECK(got.size_bytes == want.size_bytes);
        if (split == kSplitLayerBytes) ++files_found;
      }
    }
  }
  // The comparison must have had something to compare.
  CHECK(whole_plans > 1400);
  CHECK(files_found > 1500);
}

TEST_CASE("a symlink the archive made on the way leaves the choice to the whole plan") {
  TarBuilder bottom;
  bottom.symlink("lib", "usr/lib").directory("usr/").directory("usr/lib/").end();
  TarBuilder top;
  // Lands in usr/lib/libc.so through the symlink: not where it names.
  top.file("lib/libc.so", "elf").end();
  const std::vector<PathPlanLayer> layers = {
      {Bytes(bottom.bytes().data(), bottom.bytes().size()), "bottom"},
      {Bytes(top.bytes().data(), top.bytes().size()), "top"}};
  CHECK(plan_for_path(layers, "/usr/lib/libc.so", ApplyOptions{}) == nullptr);
}

TEST_CASE("a pax global header leaves the choice to the whole plan") {
  TarBuilder layer;
  layer.pax_global({{"uid", "7"}}).file("etc/passwd", "root").end();
  const std::vector<PathPlanLayer> layers = {{Bytes(layer.bytes().data(), layer.bytes().size()), "layer"}};
  CHECK(plan_for_path(layers, "/etc/passwd", ApplyOptions{}) == nullptr);
}

TEST_CASE("only the entries a path depends on are planned") {
  TarBuilder bottom;
  bottom.directory("etc/").file("etc/passwd", "root").file("etc/group", "wheel").directory("usr/")
      .file("usr/big", std::string(5000, 'b')).symlink("etc/os-release", "../usr/os-release").end();
  TarBuilder top;
  top.file("usr/os-release", "ID=test").file("usr/.wh.big", "").end();
  const std::vector<PathPlanLayer> layers = {
      {Bytes(bottom.bytes().data(), bottom.bytes().size()), "bottom"},
      {Bytes(top.bytes().data(), top.bytes().size()), "top"}};
  const std::unique_ptr<FinalTree> tree = plan_for_path(layers, "/etc/os-release", ApplyOptions{});
  REQUIRE(tree);
  const FinalTree::Lookup found = tree->lookup("/etc/os-release", true);
  REQUIRE(found.found);
  CHECK(found.clean_path == "usr/os-release");
  CHECK(tree->inode(found.inode).layer == 1);
  // etc/passwd and etc/group were not needed, so they are not in this plan.
  CHECK_FALSE(tree->lookup("etc/passwd", false).found);
  CHECK_FALSE(tree->lookup("usr/big", false).found);
}

TEST_SUITE_END();

}  // namespace undocker::layer
